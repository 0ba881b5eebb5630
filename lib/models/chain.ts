import { providerSecret, type Config } from '../config/schema.js';
import { SecretError } from '../secrets/errors.js';
import { AnthropicProvider } from './anthropic.js';
import { OfflineProvider } from './offline.js';
import { ModelError, type ModelProvider, type ModelReply, type ModelRequest, type ProviderCredentials } from './port.js';
import { TestProvider } from './test-provider.js';

/** One model the chain tried, and what happened. */
export interface ModelAttempt {
  model: string;
  outcome: 'answered' | 'unavailable' | 'failed';
  reason?: string;
}

/** What a provider may use while it answers one agent's request. */
export interface ProviderContext {
  /** The API key in `secret`, resolved for this agent's turn (least privilege and audit apply). */
  credentials(secret: string): ProviderCredentials;
}

/** Resolves a model reference to a provider, or undefined when its provider is not available here. */
export type ProviderResolver = (ref: string, context: ProviderContext) => ModelProvider | undefined;

/** The providers that need nothing: `offline` and `test:*`. */
export const builtInProviders: ProviderResolver = (ref) => {
  if (ref === 'offline') return new OfflineProvider();
  if (ref.startsWith('test:')) return new TestProvider(ref.slice('test:'.length));
  return undefined;
};

/** Every provider of this build, with its settings from the config's `providers`. */
export function configuredProviders(config: Pick<Config, 'providers'>): ProviderResolver {
  return (ref, context) => {
    const builtIn = builtInProviders(ref, context);
    if (builtIn) return builtIn;
    const [provider, ...rest] = ref.split(':');
    const model = rest.join(':');
    if (provider === 'anthropic') {
      return new AnthropicProvider(model, context.credentials(providerSecret(config, ref)!), { baseUrl: config.providers.anthropic?.baseUrl });
    }
    return undefined;
  };
}

/**
 * Asks the agent's models in order until one answers. A model whose provider is not available is
 * skipped; a retryable failure moves on to the next model; a non-retryable one ends the chain.
 */
export async function completeWithChain(
  models: string[],
  request: ModelRequest,
  resolve: ProviderResolver,
  context: ProviderContext,
): Promise<{ reply: ModelReply; attempts: ModelAttempt[] }> {
  const attempts: ModelAttempt[] = [];
  for (const model of models) {
    const provider = resolve(model, context);
    if (!provider) {
      attempts.push({ model, outcome: 'unavailable', reason: 'provider not available in this build' });
      continue;
    }
    try {
      const reply = await provider.complete(request);
      attempts.push({ model, outcome: 'answered' });
      return { reply, attempts };
    } catch (error) {
      // A key that cannot be had (not set yet, Secrets Manager down) makes this model unusable, not the turn.
      const retryable = error instanceof ModelError ? error.retryable : error instanceof SecretError;
      attempts.push({ model, outcome: 'failed', reason: (error as Error).message });
      if (!retryable) throw error;
    }
  }
  throw new ModelError(`no model of [${models.join(', ')}] could answer`, models.at(-1) ?? 'none', false);
}
