import { MIN_REDACTED_LENGTH } from '../secrets/redactor.js';
import { ModelError, type ProviderCredentials } from './port.js';
import { retryAfterMs } from './retry-after.js';

/** What a failed provider call means for the model chain (every HTTP provider classifies into this). */
export interface ProviderFailure {
  /** Whether the next model of the chain may be tried. */
  retryable: boolean;
  /** 401/403: the key was refused, so it is worth refetching it once. */
  keyRefused: boolean;
  /** The HTTP status when the API answered. */
  status?: number;
  /** The API's Retry-After, in ms: the circuit breaker skips the provider at least that long. */
  retryAfterMs?: number;
  /** What went wrong, in words: status, error type and the API's message; never a header value. */
  message: string;
}

/** Statuses below 500 that are worth another model: timeout, conflict, rate limit. */
export const RETRYABLE_STATUSES = new Set([408, 409, 429]);

/** Longest provider message kept in a ModelError (a proxy may answer with a whole HTML page). */
const MAX_MESSAGE = 300;

/** A provider message cut to a length fit for a ModelError. */
export const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text);

/** How to read one SDK's errors: its abort and connection classes, and what an HTTP error says. */
export interface SdkErrors {
  isAbort(error: unknown): boolean;
  isConnection(error: unknown): boolean;
  /** Status, words and headers of an error the API answered with; undefined for any other error. */
  describe(
    error: unknown,
  ): { status: number; message: string; headers?: { get(name: string): string | null } } | undefined;
}

/**
 * Classifies a provider SDK's error before anything formats it into text. Aborts (our deadline),
 * connection failures (the SDK's own timeout included), 408/409/429 and >= 500 are retryable, with
 * the API's Retry-After; 401/403 refuse the key; every other error (400, 404, 422, client-side SDK
 * errors …) is not retryable. Pure apart from reading the clock for a Retry-After given as a date.
 */
export function classifyProviderError(
  error: unknown,
  signal: AbortSignal | undefined,
  sdk: SdkErrors,
): ProviderFailure {
  if (signal?.aborted || sdk.isAbort(error)) {
    const reason = signal?.reason as { name?: string } | undefined;
    const timedOut = reason?.name === 'TimeoutError';
    return {
      retryable: true,
      keyRefused: false,
      message: timedOut ? 'request timed out (deadline reached)' : 'request aborted',
    };
  }
  if (sdk.isConnection(error) || isCutOff(error))
    return { retryable: true, keyRefused: false, message: clip(`connection failed: ${(error as Error).message}`) };
  const answered = sdk.describe(error);
  if (answered) {
    const { status } = answered;
    const message = clip(answered.message);
    if (status === 401 || status === 403) return { retryable: false, keyRefused: true, status, message };
    const wait = retryAfterMs((name) => answered.headers?.get(name));
    return {
      retryable: RETRYABLE_STATUSES.has(status) || status >= 500,
      keyRefused: false,
      status,
      message,
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { retryable: false, keyRefused: false, message: clip(message) };
}

/** Socket-level error codes (node's and undici's) that mean the connection broke, not the request. */
const TRANSPORT_CODE = /^(UND_ERR_|ECONNRESET$|EPIPE$|ETIMEDOUT$|ECONNREFUSED$)/;

/**
 * A connection that broke after the API had answered, while its body was read: fetch (undici)
 * throws TypeError("terminated") caused by the socket's error, which the Stainless SDKs do not wrap
 * in their connection error class. Another model may well answer, so it is retryable.
 */
function isCutOff(error: unknown): boolean {
  let current = error as { code?: unknown; cause?: unknown } | undefined;
  for (
    let depth = 0;
    current && typeof current === 'object' && depth < 4;
    depth += 1, current = current.cause as typeof current
  ) {
    if (typeof current.code === 'string' && TRANSPORT_CODE.test(current.code)) return true;
  }
  return error instanceof TypeError && error.message === 'terminated';
}

/** A provider key and its version. */
export type Key = { value: string; versionId: string };

/**
 * One call of a keyed provider: the key comes from `credentials` (or `fallbackKey` for a provider
 * that needs none); a refused key (401/403) is refetched once and the call retried once with the new
 * version; refused again — or nothing newer exists — the model is given up retryably, so the chain
 * falls back. Every failure becomes a ModelError classified by `classify` before anything formats it.
 */
export async function callWithKey<T>(options: {
  model: string;
  credentials: ProviderCredentials | undefined;
  fallbackKey?: Key;
  signal: AbortSignal;
  classify: (error: unknown, signal: AbortSignal) => ProviderFailure;
  call: (key: Key) => Promise<T>;
}): Promise<T> {
  const { model, credentials, signal, classify, call } = options;
  const key = credentials ? await credentials.apiKey() : options.fallbackKey!;
  let refused: { failure: ProviderFailure; error: unknown };
  try {
    return await call(key);
  } catch (error) {
    const failure = classify(error, signal);
    if (!failure.keyRefused) throw modelError(model, failure, error, key);
    refused = { failure, error };
  }
  // A refused key makes this model unusable, not the turn: the error is retryable so the chain
  // moves on to the next model (the audit and logs say why).
  if (!credentials)
    throw modelError(
      model,
      { ...refused.failure, retryable: true },
      refused.error,
      key,
      'refused, and no key is configured for this provider',
    );
  const renewed = await credentials.apiKey({ rejectedVersion: key.versionId });
  if (renewed.versionId === key.versionId && renewed.value === key.value) {
    // The resolver has nothing newer: the same key would be refused again.
    throw modelError(
      model,
      { ...refused.failure, retryable: true },
      refused.error,
      key,
      'refused, and no newer version exists',
    );
  }
  try {
    return await call(renewed);
  } catch (error) {
    const failure = classify(error, signal);
    throw modelError(
      model,
      failure.keyRefused ? { ...failure, retryable: true } : failure,
      error,
      renewed,
      failure.keyRefused ? 'refused again after a refetch' : undefined,
    );
  }
}

/**
 * The text with the key masked. A value shorter than a real key (the keyless endpoints' "ollama"
 * placeholder) is left alone: masking it would mangle the model's own name in every message.
 */
export function maskKey(text: string, key: string): string {
  return key.length >= MIN_REDACTED_LENGTH ? text.replaceAll(key, '***') : text;
}

/** The ModelError of a failed call; the key never appears in it, whatever the provider echoed. */
export function modelError(
  model: string,
  failure: ProviderFailure,
  cause: unknown,
  key: Key,
  keyNote?: string,
): ModelError {
  const what = keyNote ? `key version ${key.versionId} ${keyNote}: ` : '';
  const text = `${model} failed: ${what}${failure.message}`;
  return new ModelError(maskKey(text, key.value), model, failure.retryable, {
    status: failure.status,
    retryAfterMs: failure.retryAfterMs,
    cause,
  });
}
