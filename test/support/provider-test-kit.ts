import { expect } from 'vitest';
import { ModelError, type ModelProvider, type ModelRequest, type ProviderCredentials } from '../../lib/models/port.js';
import type { Message } from '../../lib/turns/model.js';
import type { KeyCheckingFake, ScriptedFake } from './fake-server.js';

/**
 * What the model provider tests (anthropic, openai, bedrock against their loopback fakes) share:
 * credentials fakes, request and message builders, catching a ModelError, and the checks every
 * provider must pass (a hung request given up at the deadline, a refused key refetched once, no
 * key in an error message, sub-agent results sent as JSON, an unreachable endpoint, transport
 * errors of the Stainless SDKs classified as retryable).
 */

/** Credentials like the resolver's: v1 (`oldKey`) until a caller reports v1 refused, then v2 (`newKey`); `calls` records what each call asked. */
export function rotatingCredentials(
  oldKey: string,
  newKey: string,
): ProviderCredentials & { calls: { rejectedVersion?: string }[] } {
  const calls: { rejectedVersion?: string }[] = [];
  let current = { value: oldKey, versionId: 'v1' };
  return {
    calls,
    async apiKey(options = {}) {
      calls.push(options);
      if (options.rejectedVersion === 'v1') current = { value: newKey, versionId: 'v2' };
      return current;
    },
  };
}

/** Credentials that always give the same key (no newer version to refetch). */
export const fixedCredentials = (value: string, versionId = 'v1'): ProviderCredentials => ({
  apiKey: async () => ({ value, versionId }),
});

let seq = 0;
/** A stored thread message of the agent "helper". */
export const message = (role: Message['role'], content: string): Message => ({
  seq: ++seq,
  role,
  content,
  turnId: `t${seq}`,
  agent: 'helper',
  createdAt: new Date().toISOString(),
});

/** A main-role request of the agent "helper" asking the capital of France, with a 10 s deadline. */
export const request = (overrides: Partial<ModelRequest> = {}): ModelRequest => ({
  agent: 'helper',
  role: 'main',
  input: 'What is the capital of France?',
  memory: [],
  subAgents: [],
  signal: AbortSignal.timeout(10_000),
  ...overrides,
});

/** Runs a promise, expecting a ModelError, and returns it. */
export type ModelErrorOf = (promise: Promise<unknown>) => Promise<ModelError>;

/** A `modelError(promise)` that also checks the error's message contains none of `secrets`. */
export function modelErrorWithout(...secrets: string[]): ModelErrorOf {
  return async (promise) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelError);
    const failure = error as ModelError;
    for (const secret of secrets) expect(failure.message).not.toContain(secret);
    return failure;
  };
}

/** A provider test's setup: its fake, a provider against it, and its `modelError`. */
export interface ProviderUnderTest<Responder> {
  fake: ScriptedFake<unknown, Responder>;
  /** A provider against the fake. */
  provider(): ModelProvider;
  modelError: ModelErrorOf;
}

/** The setup of a provider whose key comes from credentials: `provider()` uses `fixedCredentials(keys.old)`. */
export interface KeyedProviderUnderTest<Responder> extends ProviderUnderTest<Responder> {
  /** A fake that checks keys (fake-anthropic, fake-openai). */
  fake: KeyCheckingFake<{ apiKey: string | undefined }, Responder>;
  provider(credentials?: ProviderCredentials): ModelProvider;
  keys: { old: string; new: string };
}

/** The coalesce request carries the input and the sub-agent results as JSON (without session keys) in its last message, a user one. */
export async function expectResultsSentAsJson(
  provider: ModelProvider,
  lastSent: () => { role: string; text: string },
): Promise<void> {
  const results = [
    { agent: 'data', sessionKey: 's:data', status: 'succeeded' as const, reply: '30 closes' },
    { agent: 'analysis', sessionKey: 's:analysis', status: 'timed_out' as const },
  ];
  await provider.complete(request({ role: 'coalesce', input: 'analyse ACME', results }));
  const last = lastSent();
  expect(last.role).toBe('user');
  expect(last.text).toContain('analyse ACME');
  expect(JSON.parse(last.text.slice(last.text.indexOf('[')))).toEqual([
    { agent: 'data', status: 'succeeded', reply: '30 closes' },
    { agent: 'analysis', status: 'timed_out' },
  ]);
}

/** With `hang` scripted, a request with a 300 ms deadline fails retryably ("timed out") within ~1 s, and the client lets go of the hung request. */
export async function expectHungRequestGivenUp<Responder>(
  { fake, provider, modelError }: ProviderUnderTest<Responder>,
  hang: Responder,
): Promise<void> {
  fake.script(hang);
  const started = Date.now();
  const failure = await modelError(provider().complete(request({ signal: AbortSignal.timeout(300) })));
  expect(Date.now() - started).toBeLessThan(1_000);
  expect(failure).toMatchObject({ retryable: true, status: undefined });
  expect(failure.message).toContain('timed out');
  await expect.poll(() => fake.pending()).toBe(0); // the SDK closed the connection (or reset the HTTP/2 stream)
}

/** With `echoing` scripted (an error whose message quotes the key), the ModelError's message masks it ("***"). */
export async function expectEchoedKeyMasked<Responder>(
  { fake, provider, modelError, keys }: KeyedProviderUnderTest<Responder>,
  echoing: (key: string) => Responder,
): Promise<void> {
  fake.script(echoing(keys.old));
  const failure = await modelError(provider().complete(request()));
  expect(failure.message).toContain('***');
}

/** The old key refused: the provider refetches once, retries with the new one, and keeps it for the next call. */
export async function expectRefusedKeyRefetched<Responder>({
  fake,
  provider,
  keys,
}: KeyedProviderUnderTest<Responder>): Promise<void> {
  fake.acceptKeys([keys.new]);
  const credentials = rotatingCredentials(keys.old, keys.new);
  const model = provider(credentials);
  const reply = await model.complete(request());

  expect(reply.text).toBe('echo: What is the capital of France?');
  expect(credentials.calls).toEqual([{}, { rejectedVersion: 'v1' }]);
  expect(fake.requests.map((r) => r.apiKey)).toEqual([keys.old, keys.new]);

  // The rotated key's client is kept: the next call goes straight out with v2.
  await model.complete(request());
  expect(fake.requests.map((r) => r.apiKey)).toEqual([keys.old, keys.new, keys.new]);
}

/** Both keys refused (only `accepted` is): one refetch, two requests, and the ModelError, for the caller's checks. */
export async function refusedAfterRefetch<Responder>(
  { fake, provider, modelError, keys }: KeyedProviderUnderTest<Responder>,
  accepted: string,
): Promise<ModelError> {
  fake.acceptKeys([accepted]);
  const credentials = rotatingCredentials(keys.old, keys.new);
  const failure = await modelError(provider(credentials).complete(request()));
  expect(credentials.calls).toEqual([{}, { rejectedVersion: 'v1' }]);
  expect(fake.requests).toHaveLength(2);
  return failure;
}

/** Every key refused and no newer version: one request, a retryable 401. */
export async function expectRefusedKeyNotResent<Responder>({
  fake,
  provider,
  modelError,
  keys,
}: KeyedProviderUnderTest<Responder>): Promise<void> {
  fake.acceptKeys([]);
  const failure = await modelError(provider(fixedCredentials(keys.old)).complete(request()));
  expect(failure).toMatchObject({ retryable: true, status: 401 });
  expect(fake.requests).toHaveLength(1);
}

/** The URL of a fake started and closed again: nothing listens there. */
export async function closedFakeUrl(start: () => Promise<{ url: string; close(): Promise<void> }>): Promise<string> {
  const gone = await start();
  await gone.close();
  return gone.url;
}

/** What a provider's error classifier gives (classifyAnthropicError, classifyOpenAIError). */
type Classify = (
  error: unknown,
  signal?: AbortSignal,
) => { retryable: boolean; keyRefused: boolean; status?: number; message: string };

/** The connection, timeout and abort errors of a Stainless-generated SDK (@anthropic-ai/sdk, openai). */
export interface SdkTransportErrors {
  APIConnectionError: new (options: { message: string }) => Error;
  APIConnectionTimeoutError: new () => Error;
  APIUserAbortError: new () => Error;
}

/** Connection errors (without a status), the SDK's timeout, its abort and an aborted signal all classify as retryable. */
export function expectTransportErrorsRetryable(classify: Classify, sdk: SdkTransportErrors): void {
  const connection = classify(new sdk.APIConnectionError({ message: 'Connection error.' }));
  expect(connection).toMatchObject({ retryable: true, keyRefused: false });
  expect(connection.status).toBeUndefined();
  expect(classify(new sdk.APIConnectionTimeoutError())).toMatchObject({ retryable: true });
  expect(classify(new sdk.APIUserAbortError())).toMatchObject({ retryable: true });
  const aborted = AbortSignal.abort();
  expect(classify(new Error('whatever'), aborted)).toMatchObject({ retryable: true, message: 'request aborted' });
}
