import { type Config, providerSecret } from '../config/schema.js';
import { SecretError } from '../secrets/errors.js';
import { OfflineProvider } from './offline.js';
import {
  type ModelAttempt,
  ModelError,
  type ModelProvider,
  type ModelReply,
  type ModelRequest,
  type ProviderCredentials,
} from './port.js';
import { lazyProvider } from './provider-loader.js';

/** The shared health of providers (the circuit breaker): whether to call one now, and what came of it. */
export interface ProviderHealth {
  /** closed: call it; probe: call it as the one half-open probe; open: skip it for now. */
  acquire(provider: string): Promise<'closed' | 'probe' | 'open'>;
  success(provider: string): Promise<void>;
  failure(provider: string, details: { retryAfterMs?: number; error?: string }): Promise<void>;
}

/** How the chain runs beyond the models themselves. */
export interface ChainOptions {
  /** When the agent's whole answer is due (epoch ms): each attempt but the last gets a share of what is left. */
  deadline?: number;
  health?: ProviderHealth;
  /** Told about every model given up and the next one tried (`to` absent: none was left). */
  onFallback?: (fallback: { from: string; to?: string; reason: string; status?: number }) => Promise<void>;
  /** Told about every attempt as it is recorded, so a chain that throws still leaves its attempts (the turn trace). */
  onAttempt?: (attempt: ModelAttempt) => void;
  now?: () => number;
}

/**
 * Share of the time left that one attempt may use when more models follow: a hung primary gives
 * up in time for the fallback to answer within the agent's timeout, not after it.
 */
export const ATTEMPT_SHARE = 0.5;

/**
 * Providers that answer in this process with no key and no network, by the provider part of their
 * reference: `offline`, and what `registerLocalProvider` adds (the tests' `test:*`). They have no
 * health to share and take no share of a remote model's time.
 */
const LOCAL_KINDS = new Map<string, (spec: string) => ModelProvider>();
const isLocal = (provider: string): boolean => provider === 'offline' || LOCAL_KINDS.has(provider);

/**
 * Adds a local provider kind: `<kind>:<spec>` references then resolve to `create(spec)` in this
 * process. Production code registers none; the tests register their `test:` provider
 * (test/support/test-provider.ts) so that it never ships in a bundle.
 */
export function registerLocalProvider(kind: string, create: (spec: string) => ModelProvider): void {
  LOCAL_KINDS.set(kind, create);
}

/** The provider part of a model reference ("anthropic:claude-x" → "anthropic"): the circuit breaker's unit. */
export function providerOf(model: string): string {
  return model.split(':')[0]!;
}

/** What a provider may use while it answers one agent's request. */
export interface ProviderContext {
  /** The API key in `secret`, resolved for this agent's turn (least privilege and audit apply). */
  credentials(secret: string): ProviderCredentials;
}

/** Resolves a model reference to a provider, or undefined when its provider is not available here. */
export type ProviderResolver = (ref: string, context: ProviderContext) => ModelProvider | undefined;

/** The providers that need nothing: `offline`, and the local kinds registered in this process. */
export const builtInProviders: ProviderResolver = (ref) => {
  const [kind, ...spec] = ref.split(':');
  if (kind === 'offline') return spec.length === 0 ? new OfflineProvider() : undefined;
  return spec.length === 0 ? undefined : LOCAL_KINDS.get(kind!)?.(spec.join(':'));
};

/** Every provider of this build (anthropic, openai, ollama and other Chat Completions endpoints, bedrock), with its settings from the config's `providers`. */
export function configuredProviders(config: Pick<Config, 'providers'>): ProviderResolver {
  return (ref, context) => {
    const builtIn = builtInProviders(ref, context);
    if (builtIn) return builtIn;
    const [provider, ...rest] = ref.split(':');
    const model = rest.join(':');
    const settings = config.providers[provider!];
    const secret = providerSecret(config, ref);
    const credentials = secret === undefined ? undefined : context.credentials(secret);
    // Each kind's module (and its SDK) is imported on the first call of a model of that kind, so a
    // function whose agents use only offline models never loads an SDK.
    if (provider === 'anthropic')
      return lazyProvider(
        ref,
        'anthropic',
        (m) => new m.AnthropicProvider(model, credentials!, { baseUrl: settings?.baseUrl }),
      );
    if (provider === 'bedrock') return lazyProvider(ref, 'bedrock', (m) => new m.BedrockProvider(model));
    // openai, ollama, and any provider configured with a baseUrl speak the Chat Completions API.
    if (provider === 'openai' || provider === 'ollama' || settings?.baseUrl)
      return lazyProvider(
        ref,
        'openai',
        (m) => new m.OpenAICompatibleProvider(provider!, model, credentials, { baseUrl: settings?.baseUrl }),
      );
    return undefined;
  };
}

/**
 * Asks the agent's models in order until one answers. A model whose provider is not available
 * here, or whose circuit is open, is skipped; a retryable failure (429, 408, 5xx, network, timeout,
 * a refused key) moves on to the next model, classified from the provider's own error before
 * anything turns it into text; a non-retryable one (400) ends the chain. Each attempt but the last
 * is bounded by a share of the time left, so a hung model falls back in time.
 */
export async function completeWithChain(
  models: string[],
  request: ModelRequest,
  resolve: ProviderResolver,
  context: ProviderContext,
  options: ChainOptions = {},
): Promise<{ reply: ModelReply; attempts: ModelAttempt[] }> {
  const now = options.now ?? Date.now;
  const attempts: ModelAttempt[] = [];
  const record = (attempt: ModelAttempt) => {
    attempts.push(attempt);
    options.onAttempt?.(attempt);
  };
  const fallback = async (index: number, reason: string, status?: number) => {
    const next = models[index + 1];
    await options.onFallback?.({
      from: models[index]!,
      ...(next ? { to: next } : {}),
      reason,
      ...(status !== undefined ? { status } : {}),
    });
  };
  for (const [index, model] of models.entries()) {
    const provider = resolve(model, context);
    if (!provider) {
      record({ model, outcome: 'unavailable', reason: 'provider not available in this build' });
      continue;
    }
    const unit = providerOf(model);
    // Local providers (offline, test) have no health to share.
    const circuit = options.health && !isLocal(unit) ? await options.health.acquire(unit) : 'closed';
    if (circuit === 'open') {
      record({ model, outcome: 'skipped', reason: 'circuit open (provider failing; cooling down)' });
      await fallback(index, 'circuit open');
      continue;
    }
    // Only a later remote model needs time kept for it: offline (and test) answer at once.
    const remoteLater = models.slice(index + 1).some((later) => !isLocal(providerOf(later)));
    const left = options.deadline === undefined ? undefined : Math.max(0, options.deadline - now());
    const signal =
      !remoteLater || left === undefined
        ? request.signal
        : AbortSignal.any([request.signal, AbortSignal.timeout(Math.floor(left * ATTEMPT_SHARE))]);
    const started = now();
    try {
      const reply = await provider.complete({ ...request, signal });
      record({ model, outcome: 'answered', ms: now() - started });
      if (!isLocal(unit)) await options.health?.success(unit);
      return { reply, attempts };
    } catch (error) {
      // Our own deadline, not the attempt's share, ends the whole chain.
      if (request.signal.aborted) {
        record({
          model,
          outcome: 'failed',
          reason: "the agent's timeout ran out during this attempt",
          ms: now() - started,
        });
        throw error;
      }
      // A key that cannot be had (not set yet, Secrets Manager down) makes this model unusable, not the turn.
      const retryable = error instanceof ModelError ? error.retryable : error instanceof SecretError;
      const status = error instanceof ModelError ? error.status : undefined;
      const reason = (error as Error).message;
      record({ model, outcome: 'failed', reason, ...(status !== undefined ? { status } : {}), ms: now() - started });
      if (error instanceof ModelError && !isLocal(unit) && options.health) {
        // Only the provider's own trouble counts against its circuit: not a key we could not read or
        // that it refused (another agent's key may work), and not our own bad request — an answer
        // like that proves the provider is up (and ends a probe).
        if (!retryable) await options.health.success(unit);
        else if (status !== 401 && status !== 403)
          await options.health.failure(unit, {
            ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
            error: reason,
          });
      }
      if (!retryable) throw error;
      await fallback(index, reason, status);
    }
  }
  throw new ModelError(`no model of [${models.join(', ')}] could answer`, models.at(-1) ?? 'none', false);
}
