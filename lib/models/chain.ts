import { OfflineProvider } from './offline.js';
import { ModelError, type ModelProvider, type ModelReply, type ModelRequest } from './port.js';
import { TestProvider } from './test-provider.js';

/** One model the chain tried, and what happened. */
export interface ModelAttempt {
  model: string;
  outcome: 'answered' | 'unavailable' | 'failed';
  reason?: string;
}

/** Resolves a model reference to a provider, or undefined when its provider is not available here. */
export type ProviderResolver = (ref: string) => ModelProvider | undefined;

/** The providers built in so far: `offline` and `test:*` (the cloud providers plug in here). */
export const builtInProviders: ProviderResolver = (ref) => {
  if (ref === 'offline') return new OfflineProvider();
  if (ref.startsWith('test:')) return new TestProvider(ref.slice('test:'.length));
  return undefined;
};

/**
 * Asks the agent's models in order until one answers. A model whose provider is not available is
 * skipped; a retryable failure moves on to the next model; a non-retryable one ends the chain.
 */
export async function completeWithChain(
  models: string[],
  request: ModelRequest,
  resolve: ProviderResolver = builtInProviders,
): Promise<{ reply: ModelReply; attempts: ModelAttempt[] }> {
  const attempts: ModelAttempt[] = [];
  for (const model of models) {
    const provider = resolve(model);
    if (!provider) {
      attempts.push({ model, outcome: 'unavailable', reason: 'provider not available in this build' });
      continue;
    }
    try {
      const reply = await provider.complete(request);
      attempts.push({ model, outcome: 'answered' });
      return { reply, attempts };
    } catch (error) {
      const retryable = error instanceof ModelError ? error.retryable : false;
      attempts.push({ model, outcome: 'failed', reason: (error as Error).message });
      if (!retryable) throw error;
    }
  }
  throw new ModelError(`no model of [${models.join(', ')}] could answer`, models.at(-1) ?? 'none', false);
}
