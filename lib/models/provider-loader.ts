import type { ModelProvider, ModelReply, ModelRequest } from './port.js';

// The SDK-backed providers, each imported on first use: a function that never calls a model of a
// kind never loads (nor, unless the bundler inlines it, ships) that kind's SDK.
const LOADERS = {
  anthropic: () => import('./anthropic.js'),
  bedrock: () => import('./bedrock.js'),
  openai: () => import('./openai.js'),
};

/** A provider kind whose module is loaded on demand. */
export type ProviderKind = keyof typeof LOADERS;
type ModuleOf<K extends ProviderKind> = Awaited<ReturnType<(typeof LOADERS)[K]>>;

const loaded = new Map<ProviderKind, Promise<unknown>>();

/** The provider module of a kind, imported once per process. */
export function loadProviderModule<K extends ProviderKind>(kind: K): Promise<ModuleOf<K>> {
  let module = loaded.get(kind);
  if (!module) {
    module = LOADERS[kind]();
    loaded.set(kind, module);
  }
  return module as Promise<ModuleOf<K>>;
}

/** A provider whose module is imported, and which is created from it, on its first call. */
export function lazyProvider<K extends ProviderKind>(
  id: string,
  kind: K,
  create: (module: ModuleOf<K>) => ModelProvider,
): ModelProvider {
  let provider: Promise<ModelProvider> | undefined;
  return {
    id,
    async complete(request: ModelRequest): Promise<ModelReply> {
      provider ??= loadProviderModule(kind).then(create);
      return (await provider).complete(request);
    },
  };
}
