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
import type { ProviderCredentials } from '../../lib/models/port.js';
import { alternatingTurns } from '../../lib/models/prompts.js';
import {
  contentText,
  type FakeAnthropic,
  anthropicResponses as respond,
  startFakeAnthropic,
} from '../support/fake-anthropic.js';
import {
  closedFakeUrl,
  expectEchoedKeyMasked,
  expectHungRequestGivenUp,
  expectRefusedKeyNotResent,
  expectRefusedKeyRefetched,
  expectResultsSentAsJson,
  expectTransportErrorsRetryable,
  fixedCredentials,
  message,
  modelErrorWithout,
  refusedAfterRefetch,
  request,
} from '../support/provider-test-kit.js';

const OLD_KEY = 'sk-ant-old-0123456789abcdef';
const NEW_KEY = 'sk-ant-new-fedcba9876543210';

/** Runs `promise`, expecting a ModelError without either key in its message, and returns it. */
const modelError = modelErrorWithout(OLD_KEY, NEW_KEY);

let fake: FakeAnthropic;
beforeAll(async () => {
  fake = await startFakeAnthropic();
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.acceptKeys([OLD_KEY]);
});

const provider = (credentials: ProviderCredentials = fixedCredentials(OLD_KEY)) =>
  new AnthropicProvider('claude-haiku-4-5', credentials, { baseUrl: fake.url, maxTokens: 256 });
const underTest = () => ({ fake, provider, modelError, keys: { old: OLD_KEY, new: NEW_KEY } });

describe('AnthropicProvider against the fake Messages API', () => {
  it('maps memory to alternating turns, sends the input last and returns the text', async () => {
    const memory = [
      message('user', 'Hi, I am Ada.'),
      message('assistant', 'Hello Ada!'),
      message('user', 'I like maps.'),
      message('user', 'And trains.'),
      message('assistant', 'Noted.'),
    ];
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
    await expectResultsSentAsJson(provider(), () => {
      const last = fake.requests[0]!.body.messages.at(-1);
      return { role: last.role, text: contentText(last.content) };
    });
  });

  it('refetches a refused key once and retries with the new version', () => expectRefusedKeyRefetched(underTest()));

  it('gives the model up (retryably: the chain falls back) with status 401 when the new key is refused too', async () => {
    const failure = await refusedAfterRefetch(underTest(), 'sk-ant-someone-else');
    expect(failure).toMatchObject({ retryable: true, status: 401, model: 'anthropic:claude-haiku-4-5' });
    expect(failure.message).toContain('authentication_error');
    expect(failure.cause).toBeInstanceOf(AuthenticationError);
  });

  it('does not resend a refused key when the resolver has no newer version', () =>
    expectRefusedKeyNotResent(underTest()));

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
    fake.script(
      respond.delayed(
        150,
        respond.text((body) => `late: ${body.messages.length}`),
      ),
    );
    expect((await provider().complete(request())).text).toBe('late: 1');
  });

  it('gives up on a hung request when the signal times out: retryable, within ~1 s', () =>
    expectHungRequestGivenUp(underTest(), respond.hang()));

  it('treats an unreachable API as a retryable connection error', async () => {
    const unreachable = new AnthropicProvider('claude-haiku-4-5', fixedCredentials(OLD_KEY), {
      baseUrl: await closedFakeUrl(startFakeAnthropic),
    });
    const failure = await modelError(unreachable.complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: undefined });
    expect(failure.cause).toBeInstanceOf(APIConnectionError);
  });

  it('never puts the key into a ModelError message, even when the API echoes it', () =>
    expectEchoedKeyMasked(underTest(), (key) => respond.invalidRequest(`bad key material ${key}`)));
});

describe('alternatingTurns', () => {
  it('drops a leading assistant message and empty ones, and ends with the input', () => {
    expect(
      alternatingTurns([message('assistant', 'orphan'), message('user', ''), message('user', 'hi')], 'next'),
    ).toEqual([{ role: 'user', content: 'hi\n\nnext' }]);
    expect(alternatingTurns([], 'only')).toEqual([{ role: 'user', content: 'only' }]);
  });
});

describe('classifyAnthropicError', () => {
  /** The error the SDK itself makes of an error response (its status → class mapping). */
  const apiError = (status: number, type: string) =>
    APIError.generate(
      status,
      { type: 'error', error: { type, message: 'boom' } },
      undefined,
      new Headers({ 'request-id': 'req_1' }),
    );

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
    expect(classifyAnthropicError(apiError(401, 'authentication_error'))).toMatchObject({
      retryable: false,
      keyRefused: true,
      status: 401,
    });
    expect(classifyAnthropicError(apiError(403, 'permission_error'))).toMatchObject({
      retryable: false,
      keyRefused: true,
      status: 403,
    });
  });

  it('treats connection errors, timeouts and aborts as retryable', () =>
    expectTransportErrorsRetryable(classifyAnthropicError, {
      APIConnectionError,
      APIConnectionTimeoutError,
      APIUserAbortError,
    }));

  it('treats anything else as not retryable', () => {
    expect(classifyAnthropicError(new TypeError('bad input'))).toEqual({
      retryable: false,
      keyRefused: false,
      message: 'bad input',
    });
  });
});
