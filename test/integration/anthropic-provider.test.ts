import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  PermissionDeniedError,
  RateLimitError,
  RequestTimeoutError,
  UnprocessableEntityError,
} from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnthropicProvider, classifyAnthropicError } from '../../lib/models/anthropic.js';
import { alternatingTurns } from '../../lib/models/prompts.js';
import { ModelError, type ModelRequest, type ProviderCredentials } from '../../lib/models/port.js';
import type { Message } from '../../lib/turns/model.js';
import { anthropicResponses as respond, contentText, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';

const OLD_KEY = 'sk-ant-old-0123456789abcdef';
const NEW_KEY = 'sk-ant-new-fedcba9876543210';

/** Credentials like the resolver's: v1 (old key) until a caller reports v1 refused, then v2. */
function rotatingCredentials(): ProviderCredentials & { calls: { rejectedVersion?: string }[] } {
  const calls: { rejectedVersion?: string }[] = [];
  let current = { value: OLD_KEY, versionId: 'v1' };
  return {
    calls,
    async apiKey(options = {}) {
      calls.push(options);
      if (options.rejectedVersion === 'v1') current = { value: NEW_KEY, versionId: 'v2' };
      return current;
    },
  };
}

const fixedCredentials = (value: string, versionId = 'v1'): ProviderCredentials => ({ apiKey: async () => ({ value, versionId }) });

let seq = 0;
const message = (role: Message['role'], content: string): Message => ({ seq: ++seq, role, content, turnId: `t${seq}`, agent: 'helper', createdAt: new Date().toISOString() });

const request = (overrides: Partial<ModelRequest> = {}): ModelRequest => ({
  agent: 'helper',
  role: 'main',
  input: 'What is the capital of France?',
  memory: [],
  subAgents: [],
  signal: AbortSignal.timeout(10_000),
  ...overrides,
});

/** Runs `promise`, expecting a ModelError, and returns it. */
async function modelError(promise: Promise<unknown>): Promise<ModelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelError);
  const failure = error as ModelError;
  for (const key of [OLD_KEY, NEW_KEY]) expect(failure.message).not.toContain(key);
  return failure;
}

let fake: FakeAnthropic;
beforeAll(async () => {
  fake = await startFakeAnthropic();
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.acceptKeys([OLD_KEY]);
});

const provider = (credentials: ProviderCredentials = fixedCredentials(OLD_KEY)) => new AnthropicProvider('claude-haiku-4-5', credentials, { baseUrl: fake.url, maxTokens: 256 });

describe('AnthropicProvider against the fake Messages API', () => {
  it('maps memory to alternating turns, sends the input last and returns the text', async () => {
    const memory = [message('user', 'Hi, I am Ada.'), message('assistant', 'Hello Ada!'), message('user', 'I like maps.'), message('user', 'And trains.'), message('assistant', 'Noted.')];
    const reply = await provider().complete(request({ memory, subAgents: ['data'] }));

    expect(reply).toEqual({ text: 'echo: What is the capital of France?', model: 'anthropic:claude-haiku-4-5' });
    expect(fake.requests).toHaveLength(1);
    const [sent] = fake.requests;
    expect(sent).toMatchObject({ method: 'POST', path: '/v1/messages' });
    expect(sent!.body).toMatchObject({ model: 'claude-haiku-4-5', max_tokens: 256 });
    expect(sent!.body.system).toContain('"helper"');
    expect(sent!.body.system).toContain('data');
    expect(sent!.body.messages).toEqual([
      { role: 'user', content: 'Hi, I am Ada.' },
      { role: 'assistant', content: 'Hello Ada!' },
      { role: 'user', content: 'I like maps.\n\nAnd trains.' },
      { role: 'assistant', content: 'Noted.' },
      { role: 'user', content: 'What is the capital of France?' },
    ]);
    expect(sent!.body).not.toHaveProperty('stream', true);
  });

  it('sends the key the credentials gave, with the SDK headers', async () => {
    await provider().complete(request());
    const [sent] = fake.requests;
    expect(sent!.apiKey).toBe(OLD_KEY);
    // SDK 1.x (API version 2026-10-21) sends the key as a bearer token, not as x-api-key.
    expect(sent!.headers.authorization).toBe(`Bearer ${OLD_KEY}`);
    expect(sent!.headers['anthropic-version']).toBe('2026-10-21');
    expect(sent!.headers['x-stainless-retry-count']).toBe('0');
    expect(sent!.headers['content-type']).toContain('application/json');
  });

  it('puts the sub-agent results into the coalesce request as JSON', async () => {
    const results = [
      { agent: 'data', sessionKey: 's:data', status: 'succeeded' as const, reply: '30 closes' },
      { agent: 'analysis', sessionKey: 's:analysis', status: 'timed_out' as const },
    ];
    await provider().complete(request({ role: 'coalesce', input: 'analyse ACME', results }));
    const last = fake.requests[0]!.body.messages.at(-1);
    expect(last.role).toBe('user');
    const text = contentText(last.content);
    expect(text).toContain('analyse ACME');
    expect(JSON.parse(text.slice(text.indexOf('[')))).toEqual([
      { agent: 'data', status: 'succeeded', reply: '30 closes' },
      { agent: 'analysis', status: 'timed_out' },
    ]);
  });

  it('refetches a refused key once and retries with the new version', async () => {
    fake.acceptKeys([NEW_KEY]);
    const credentials = rotatingCredentials();
    const anthropic = provider(credentials);
    const reply = await anthropic.complete(request());

    expect(reply.text).toBe('echo: What is the capital of France?');
    expect(credentials.calls).toEqual([{}, { rejectedVersion: 'v1' }]);
    expect(fake.requests.map((r) => r.apiKey)).toEqual([OLD_KEY, NEW_KEY]);

    // The rotated key's client is kept: the next call goes straight out with v2.
    await anthropic.complete(request());
    expect(fake.requests.map((r) => r.apiKey)).toEqual([OLD_KEY, NEW_KEY, NEW_KEY]);
  });

  it('gives the model up (retryably: the chain falls back) with status 401 when the new key is refused too', async () => {
    fake.acceptKeys(['sk-ant-someone-else']);
    const credentials = rotatingCredentials();
    const failure = await modelError(provider(credentials).complete(request()));

    expect(failure).toMatchObject({ retryable: true, status: 401, model: 'anthropic:claude-haiku-4-5' });
    expect(failure.message).toContain('authentication_error');
    expect(failure.cause).toBeInstanceOf(AuthenticationError);
    expect(credentials.calls).toEqual([{}, { rejectedVersion: 'v1' }]);
    expect(fake.requests).toHaveLength(2);
  });

  it('does not resend a refused key when the resolver has no newer version', async () => {
    fake.acceptKeys([]);
    const failure = await modelError(provider(fixedCredentials(OLD_KEY)).complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: 401 });
    expect(fake.requests).toHaveLength(1);
  });

  it('classifies 429 as retryable with its Retry-After, without the SDK retrying', async () => {
    fake.script(respond.rateLimited(7));
    const failure = await modelError(provider().complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7000 });
    expect(failure.message).toContain('rate_limit_error');
    expect(failure.cause).toBeInstanceOf(RateLimitError);
    expect(fake.requests).toHaveLength(1);
  });

  it('classifies 500 and 529 as retryable', async () => {
    fake.script(respond.serverError(), respond.overloaded());
    expect(await modelError(provider().complete(request()))).toMatchObject({ retryable: true, status: 500 });
    expect(await modelError(provider().complete(request()))).toMatchObject({ retryable: true, status: 529 });
    expect(fake.requests).toHaveLength(2);
  });

  it('classifies 400 and 404 as not retryable', async () => {
    fake.script(respond.invalidRequest('max_tokens: too large'), respond.notFound('model: claude-haiku-4-5'));
    const bad = await modelError(provider().complete(request()));
    expect(bad).toMatchObject({ retryable: false, status: 400 });
    expect(bad.message).toContain('max_tokens: too large');
    expect(await modelError(provider().complete(request()))).toMatchObject({ retryable: false, status: 404 });
  });

  it('answers after a scripted delay', async () => {
    fake.script(respond.delayed(150, respond.text((body) => `late: ${body.messages.length}`)));
    expect((await provider().complete(request())).text).toBe('late: 1');
  });

  it('gives up on a hung request when the signal times out: retryable, within ~1 s', async () => {
    fake.script(respond.hang());
    const started = Date.now();
    const failure = await modelError(provider().complete(request({ signal: AbortSignal.timeout(300) })));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(failure).toMatchObject({ retryable: true, status: undefined });
    expect(failure.message).toContain('timed out');
    await expect.poll(() => fake.pending()).toBe(0); // the SDK closed the connection
  });

  it('treats an unreachable API as a retryable connection error', async () => {
    const gone = await startFakeAnthropic();
    const url = gone.url;
    await gone.close();
    const unreachable = new AnthropicProvider('claude-haiku-4-5', fixedCredentials(OLD_KEY), { baseUrl: url });
    const failure = await modelError(unreachable.complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: undefined });
    expect(failure.cause).toBeInstanceOf(APIConnectionError);
  });

  it('never puts the key into a ModelError message, even when the API echoes it', async () => {
    fake.script(respond.invalidRequest(`bad key material ${OLD_KEY}`));
    const failure = await modelError(provider().complete(request()));
    expect(failure.message).toContain('***');
  });
});

describe('alternatingTurns', () => {
  it('drops a leading assistant message and empty ones, and ends with the input', () => {
    expect(alternatingTurns([message('assistant', 'orphan'), message('user', ''), message('user', 'hi')], 'next')).toEqual([{ role: 'user', content: 'hi\n\nnext' }]);
    expect(alternatingTurns([], 'only')).toEqual([{ role: 'user', content: 'only' }]);
  });
});

describe('classifyAnthropicError', () => {
  /** The error the SDK itself makes of an error response (its status → class mapping). */
  const apiError = (status: number, type: string) => APIError.generate(status, { type: 'error', error: { type, message: 'boom' } }, undefined, new Headers({ 'request-id': 'req_1' }));

  it.each([
    [429, 'rate_limit_error', RateLimitError, true],
    [500, 'api_error', InternalServerError, true],
    [502, 'api_error', InternalServerError, true],
    [529, 'overloaded_error', OverloadedError, true],
    [408, 'timeout_error', RequestTimeoutError, true],
    [409, 'conflict_error', ConflictError, true],
    [400, 'invalid_request_error', BadRequestError, false],
    [404, 'not_found_error', NotFoundError, false],
    [422, 'invalid_request_error', UnprocessableEntityError, false],
  ])('%s %s → retryable %s', (status, type, ErrorClass, retryable) => {
    const error = apiError(status, type);
    expect(error).toBeInstanceOf(ErrorClass);
    const failure = classifyAnthropicError(error);
    expect(failure).toMatchObject({ retryable, status, keyRefused: false });
    expect(failure.message).toBe(`HTTP ${status} ${type}: boom`);
    expect(failure.message).not.toContain('req_1');
  });

  it('flags 401 and 403 as a refused key, not retryable', () => {
    expect(apiError(401, 'authentication_error')).toBeInstanceOf(AuthenticationError);
    expect(apiError(403, 'permission_error')).toBeInstanceOf(PermissionDeniedError);
    expect(classifyAnthropicError(apiError(401, 'authentication_error'))).toMatchObject({ retryable: false, keyRefused: true, status: 401 });
    expect(classifyAnthropicError(apiError(403, 'permission_error'))).toMatchObject({ retryable: false, keyRefused: true, status: 403 });
  });

  it('treats connection errors, timeouts and aborts as retryable', () => {
    const connection = classifyAnthropicError(new APIConnectionError({ message: 'Connection error.' }));
    expect(connection).toMatchObject({ retryable: true, keyRefused: false });
    expect(connection.status).toBeUndefined();
    expect(classifyAnthropicError(new APIConnectionTimeoutError())).toMatchObject({ retryable: true });
    expect(classifyAnthropicError(new APIUserAbortError())).toMatchObject({ retryable: true });
    const aborted = AbortSignal.abort();
    expect(classifyAnthropicError(new Error('whatever'), aborted)).toMatchObject({ retryable: true, message: 'request aborted' });
  });

  it('treats anything else as not retryable', () => {
    expect(classifyAnthropicError(new TypeError('bad input'))).toEqual({ retryable: false, keyRefused: false, message: 'bad input' });
  });
});
