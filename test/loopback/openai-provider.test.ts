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
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  classifyOpenAIError,
  OpenAICompatibleProvider,
  toOpenAIStepMessages,
  verifyOpenAIKey,
} from '../../lib/models/openai.js';
import type { ProviderCredentials, ToolSpec, ToolStep } from '../../lib/models/port.js';
import { alternatingTurns, SYSTEM_PROMPTS } from '../../lib/models/prompts.js';
import { contentText, type FakeOpenAI, openaiResponses as respond, startFakeOpenAI } from '../support/fake-openai.js';
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

const OLD_KEY = 'sk-old-0123456789abcdef';
const NEW_KEY = 'sk-new-fedcba9876543210';

const TOOLS: ToolSpec[] = [
  {
    name: 'memory.read',
    description: 'Reads a value from the agent memory.',
    inputSchema: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
  },
  { name: 'clock', description: 'The current time.', inputSchema: { type: 'object', properties: {} } },
];

/**
 * Runs `promise`, expecting a ModelError without either key in its message, not even the API's
 * masked quote of it (first 3 and last 4 characters), and returns it.
 */
const modelError = modelErrorWithout(OLD_KEY, NEW_KEY, OLD_KEY.slice(-4), NEW_KEY.slice(-4));

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.acceptKeys([OLD_KEY]);
});

const provider = (credentials: ProviderCredentials = fixedCredentials(OLD_KEY)) =>
  new OpenAICompatibleProvider('openai', 'gpt-fake', credentials, { baseUrl: fake.url, maxTokens: 256 });
const underTest = () => ({ fake, provider, modelError, keys: { old: OLD_KEY, new: NEW_KEY } });

describe('OpenAICompatibleProvider against the fake Chat Completions API', () => {
  it('sends a system prompt, the memory and the input last, and returns the text', async () => {
    const memory = [
      message('user', 'Hi, I am Ada.'),
      message('assistant', 'Hello Ada!'),
      message('user', 'I like maps.'),
      message('user', 'And trains.'),
      message('assistant', 'Noted.'),
    ];
    const reply = await provider().complete(request({ memory, subAgents: ['data'] }));

    expect(reply).toEqual({ text: 'echo: What is the capital of France?', model: 'openai:gpt-fake' });
    expect(reply).not.toHaveProperty('toolCalls');
    expect(fake.requests).toHaveLength(1);
    const [sent] = fake.requests;
    expect(sent).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(sent!.body).toMatchObject({ model: 'gpt-fake', max_completion_tokens: 256 });
    expect(sent!.body).not.toHaveProperty('max_tokens');
    expect(sent!.body).not.toHaveProperty('tools');
    expect(sent!.body).not.toHaveProperty('stream', true);
    const [system, ...rest] = sent!.body.messages;
    expect(system.role).toBe('system');
    expect(system.content).toBe(SYSTEM_PROMPTS.main(request({ subAgents: ['data'] })));
    expect(system.content).toContain('"helper"');
    expect(system.content).toContain('data');
    expect(rest).toEqual([
      { role: 'user', content: 'Hi, I am Ada.' },
      { role: 'assistant', content: 'Hello Ada!' },
      { role: 'user', content: 'I like maps.\n\nAnd trains.' },
      { role: 'assistant', content: 'Noted.' },
      { role: 'user', content: 'What is the capital of France?' },
    ]);
  });

  it('sends the key the credentials gave as a bearer token, without SDK retries', async () => {
    await provider().complete(request());
    const [sent] = fake.requests;
    expect(sent!.apiKey).toBe(OLD_KEY);
    expect(sent!.headers.authorization).toBe(`Bearer ${OLD_KEY}`);
    expect(sent!.headers['x-stainless-retry-count']).toBe('0');
    expect(sent!.headers['content-type']).toContain('application/json');
    expect(sent!.headers).not.toHaveProperty('openai-organization');
    expect(sent!.headers).not.toHaveProperty('openai-project');
  });

  it('puts the sub-agent results into the coalesce request as JSON', async () => {
    await expectResultsSentAsJson(provider(), () => {
      const last = fake.requests[0]!.body.messages.at(-1);
      return { role: last.role, text: contentText(last.content) };
    });
  });

  it('sends the tool specs as functions, with "__" for "."', async () => {
    await provider().complete(request({ tools: TOOLS }));
    expect(fake.requests[0]!.body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'memory__read',
          description: 'Reads a value from the agent memory.',
          parameters: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
        },
      },
      {
        type: 'function',
        function: { name: 'clock', description: 'The current time.', parameters: { type: 'object', properties: {} } },
      },
    ]);
    // An empty tool list is left out (the API refuses `tools: []`).
    await provider().complete(request({ tools: [] }));
    expect(fake.requests[1]!.body).not.toHaveProperty('tools');
  });

  it('parses tool calls back: dotted names, parsed input, {} for invalid JSON', async () => {
    fake.script(
      respond.toolCalls(
        [
          { id: 'call_1', name: 'memory__read', arguments: { key: 'favourite city' } },
          { id: 'call_2', name: 'clock', arguments: '{"zone": "Europe/Par' },
          { id: 'call_3', name: 'clock', arguments: '["not", "an", "object"]' },
        ],
        'Let me look that up.',
      ),
    );
    const reply = await provider().complete(request({ tools: TOOLS }));
    expect(reply).toEqual({
      text: 'Let me look that up.',
      model: 'openai:gpt-fake',
      toolCalls: [
        { id: 'call_1', name: 'memory.read', input: { key: 'favourite city' } },
        { id: 'call_2', name: 'clock', input: {} },
        { id: 'call_3', name: 'clock', input: {} },
      ],
    });

    // Content null next to the tool calls: the text is empty.
    fake.script(respond.toolCalls([{ id: 'call_4', name: 'clock', arguments: '{}' }]));
    expect(await provider().complete(request({ tools: TOOLS }))).toEqual({
      text: '',
      model: 'openai:gpt-fake',
      toolCalls: [{ id: 'call_4', name: 'clock', input: {} }],
    });
  });

  it('maps the steps to assistant tool_calls and tool messages, after the input', async () => {
    const steps: ToolStep[] = [
      {
        text: 'Checking memory.',
        calls: [
          { id: 'call_a', name: 'memory.read', input: { key: 'city' } },
          { id: 'call_b', name: 'clock', input: {} },
        ],
        results: [
          { id: 'call_a', name: 'memory.read', content: 'Paris' },
          { id: 'call_b', name: 'clock', content: 'tool not allowed', isError: true },
        ],
      },
      {
        text: '',
        calls: [{ id: 'call_c', name: 'memory.read', input: { key: 'country' } }],
        results: [{ id: 'call_c', name: 'memory.read', content: 'France' }],
      },
    ];
    fake.script(respond.text('Paris, France.'));
    const reply = await provider().complete(request({ tools: TOOLS, steps }));
    expect(reply).toEqual({ text: 'Paris, France.', model: 'openai:gpt-fake' });

    // The fake enforces the API's rules: every tool_call answered by a tool message right after it.
    const messages = fake.requests[0]!.body.messages;
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: 'What is the capital of France?' },
      {
        role: 'assistant',
        content: 'Checking memory.',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'memory__read', arguments: '{"key":"city"}' } },
          { id: 'call_b', type: 'function', function: { name: 'clock', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: 'Paris' },
      { role: 'tool', tool_call_id: 'call_b', content: 'ERROR: tool not allowed' },
      {
        role: 'assistant',
        tool_calls: [
          { id: 'call_c', type: 'function', function: { name: 'memory__read', arguments: '{"key":"country"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_c', content: 'France' },
    ]);
  });

  it('refetches a refused key once and retries with the new version', () => expectRefusedKeyRefetched(underTest()));

  it('gives the model up (retryably: the chain falls back) with status 401 when the new key is refused too', async () => {
    const failure = await refusedAfterRefetch(underTest(), 'sk-someone-else-000000');
    expect(failure).toMatchObject({ retryable: true, status: 401, model: 'openai:gpt-fake' });
    expect(failure.message).toContain('invalid_api_key');
    expect(failure.message).toContain('refused again after a refetch');
    expect(failure.cause).toBeInstanceOf(AuthenticationError);
  });

  it('does not resend a refused key when the resolver has no newer version', () =>
    expectRefusedKeyNotResent(underTest()));

  it('classifies 429 as retryable with the API\u2019s retry-after, without the SDK retrying', async () => {
    fake.script(respond.rateLimited(7));
    const failure = await modelError(provider().complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7000 });
    expect(failure.message).toContain('rate_limit_exceeded');
    expect(failure.cause).toBeInstanceOf(RateLimitError);
    expect(fake.requests).toHaveLength(1);

    // retry-after-ms, when sent, is the more precise of the two.
    fake.script(respond.rateLimited(7, 1500));
    expect(await modelError(provider().complete(request()))).toMatchObject({
      retryable: true,
      status: 429,
      retryAfterMs: 1500,
    });
  });

  it('classifies 500 and 503 as retryable', async () => {
    fake.script(respond.serverError(), respond.unavailable(3));
    const server = await modelError(provider().complete(request()));
    expect(server).toMatchObject({ retryable: true, status: 500, retryAfterMs: undefined });
    expect(server.cause).toBeInstanceOf(InternalServerError);
    expect(await modelError(provider().complete(request()))).toMatchObject({
      retryable: true,
      status: 503,
      retryAfterMs: 3000,
    });
    expect(fake.requests).toHaveLength(2);
  });

  it('classifies 400 and 404 as not retryable', async () => {
    fake.script(
      respond.invalidRequest("Invalid 'max_completion_tokens': integer above maximum value."),
      respond.notFound('gpt-fake'),
    );
    const bad = await modelError(provider().complete(request()));
    expect(bad).toMatchObject({ retryable: false, status: 400 });
    expect(bad.message).toContain("Invalid 'max_completion_tokens'");
    expect(bad.cause).toBeInstanceOf(BadRequestError);
    const missing = await modelError(provider().complete(request()));
    expect(missing).toMatchObject({ retryable: false, status: 404 });
    expect(missing.message).toContain('model_not_found');
  });

  it('answers after a scripted delay', async () => {
    fake.script(
      respond.delayed(
        150,
        respond.text((body) => `late: ${body.messages.length}`),
      ),
    );
    expect((await provider().complete(request())).text).toBe('late: 2');
  });

  it('gives up on a hung request when the signal times out: retryable, within ~1 s', () =>
    expectHungRequestGivenUp(underTest(), respond.hang()));

  it('treats an unreachable API as a retryable connection error', async () => {
    const unreachable = new OpenAICompatibleProvider('openai', 'gpt-fake', fixedCredentials(OLD_KEY), {
      baseUrl: await closedFakeUrl(startFakeOpenAI),
    });
    const failure = await modelError(unreachable.complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: undefined });
    expect(failure.cause).toBeInstanceOf(APIConnectionError);
  });

  it('never puts the key into a ModelError message, even when the API echoes it', () =>
    expectEchoedKeyMasked(underTest(), (key) => respond.invalidRequest(`bad key material ${key}`)));
});

describe('OpenAICompatibleProvider for a keyless Ollama', () => {
  let ollama: FakeOpenAI;
  beforeAll(async () => {
    ollama = await startFakeOpenAI(); // accepts any key, like Ollama
  });
  afterAll(async () => ollama?.close());

  it('sends the placeholder key, never a real one, and max_tokens', async () => {
    const local = new OpenAICompatibleProvider('ollama', 'llama3.2', undefined, { baseUrl: ollama.url });
    expect(local.id).toBe('ollama:llama3.2');
    const reply = await local.complete(request({ tools: TOOLS }));
    expect(reply).toEqual({ text: 'echo: What is the capital of France?', model: 'ollama:llama3.2' });
    const [sent] = ollama.requests;
    expect(sent!.apiKey).toBe('ollama');
    expect(sent!.body).toMatchObject({ model: 'llama3.2', max_tokens: 4096 });
    expect(sent!.body).not.toHaveProperty('max_completion_tokens');
    expect(sent!.body.tools.map((tool: { function: { name: string } }) => tool.function.name)).toEqual([
      'memory__read',
      'clock',
    ]);
  });

  it('gives the model up retryably when the endpoint wants a key after all', async () => {
    ollama.acceptKeys([OLD_KEY]);
    ollama.requests.length = 0;
    const failure = await modelError(
      new OpenAICompatibleProvider('ollama', 'llama3.2', undefined, { baseUrl: ollama.url }).complete(request()),
    );
    expect(failure).toMatchObject({ retryable: true, status: 401, model: 'ollama:llama3.2' });
    expect(failure.message).toContain('no key is configured');
    // The placeholder is no key: the model's own name is not masked out of the message.
    expect(failure.message).toMatch(/^ollama:llama3\.2 failed: /);
    expect(ollama.requests).toHaveLength(1);
  });

  it('needs a base URL for a provider it does not know', () => {
    expect(() => new OpenAICompatibleProvider('vllm', 'qwen', undefined, {})).toThrow(/needs a baseUrl/);
  });
});

describe('verifyOpenAIKey', () => {
  it('passes an accepted key (GET /v1/models)', async () => {
    await verifyOpenAIKey(OLD_KEY, { baseUrl: fake.url });
    expect(fake.requests).toMatchObject([{ method: 'GET', path: '/v1/models', apiKey: OLD_KEY }]);
  });

  it('throws a non-retryable ModelError with status 401 for a refused key, without the key', async () => {
    const failure = await modelError(verifyOpenAIKey(NEW_KEY, { baseUrl: fake.url }));
    expect(failure).toMatchObject({ retryable: false, status: 401, model: 'openai' });
    expect(failure.message).toContain('invalid_api_key');
  });
});

describe('message mapping', () => {
  it('drops a leading assistant message and empty ones, and ends with the input', () => {
    expect(
      alternatingTurns([message('assistant', 'orphan'), message('user', ''), message('user', 'hi')], 'next'),
    ).toEqual([{ role: 'user', content: 'hi\n\nnext' }]);
    expect(alternatingTurns([], 'only')).toEqual([{ role: 'user', content: 'only' }]);
  });

  it('keeps a text-only step as a plain assistant message and skips an empty one', () => {
    expect(
      toOpenAIStepMessages([
        { text: 'thinking aloud', calls: [], results: [] },
        { text: '', calls: [], results: [] },
      ]),
    ).toEqual([{ role: 'assistant', content: 'thinking aloud' }]);
  });
});

describe('classifyOpenAIError', () => {
  /** The error the SDK itself makes of an error response (its status → class mapping). */
  const apiError = (status: number, type: string, code: string | null = null, headers: Record<string, string> = {}) =>
    APIError.generate(
      status,
      { error: { message: 'boom', type, param: null, code } },
      undefined,
      new Headers({ 'x-request-id': 'req_1', ...headers }),
    );

  it.each([
    [429, 'requests', RateLimitError, true],
    [500, 'server_error', InternalServerError, true],
    [502, 'server_error', InternalServerError, true],
    [503, 'server_error', InternalServerError, true],
    [408, 'timeout', APIError, true],
    [409, 'conflict', ConflictError, true],
    [400, 'invalid_request_error', BadRequestError, false],
    [404, 'invalid_request_error', NotFoundError, false],
    [422, 'invalid_request_error', UnprocessableEntityError, false],
  ])('%s %s → retryable %s', (status, type, ErrorClass, retryable) => {
    const error = apiError(status, type);
    expect(error).toBeInstanceOf(ErrorClass);
    const failure = classifyOpenAIError(error);
    expect(failure).toMatchObject({ retryable, status, keyRefused: false });
    expect(failure.retryAfterMs).toBeUndefined();
    expect(failure.message).toBe(`HTTP ${status} ${type}: boom`);
    expect(failure.message).not.toContain('req_1');
  });

  it('reads retry-after (seconds or a date) and retry-after-ms', () => {
    expect(classifyOpenAIError(apiError(429, 'requests', 'rate_limit_exceeded', { 'retry-after': '7' }))).toMatchObject(
      {
        retryable: true,
        status: 429,
        retryAfterMs: 7000,
        message: 'HTTP 429 requests (rate_limit_exceeded): boom',
      },
    );
    expect(
      classifyOpenAIError(apiError(429, 'requests', null, { 'retry-after': '7', 'retry-after-ms': '250.5' }))
        .retryAfterMs,
    ).toBe(251);
    const date = new Date(Date.now() + 60_000).toUTCString();
    const fromDate = classifyOpenAIError(apiError(503, 'server_error', null, { 'retry-after': date })).retryAfterMs!;
    expect(fromDate).toBeGreaterThan(55_000);
    expect(fromDate).toBeLessThanOrEqual(60_000);
    expect(
      classifyOpenAIError(apiError(429, 'requests', null, { 'retry-after': 'soon' })).retryAfterMs,
    ).toBeUndefined();
  });

  it('flags 401 and 403 as a refused key, not retryable, without the masked key', () => {
    expect(apiError(401, 'invalid_request_error')).toBeInstanceOf(AuthenticationError);
    expect(apiError(403, 'invalid_request_error')).toBeInstanceOf(PermissionDeniedError);
    expect(classifyOpenAIError(apiError(401, 'invalid_request_error', 'invalid_api_key'))).toMatchObject({
      retryable: false,
      keyRefused: true,
      status: 401,
    });
    expect(classifyOpenAIError(apiError(403, 'invalid_request_error'))).toMatchObject({
      retryable: false,
      keyRefused: true,
      status: 403,
    });
    const quoted = APIError.generate(
      401,
      {
        error: {
          message:
            'Incorrect API key provided: sk-************cdef. You can find your API key at https://platform.openai.com/account/api-keys.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      },
      undefined,
      new Headers(),
    );
    expect(classifyOpenAIError(quoted).message).toBe(
      'HTTP 401 invalid_request_error (invalid_api_key): Incorrect API key provided: *** You can find your API key at https://platform.openai.com/account/api-keys.',
    );
  });

  it('treats connection errors, timeouts and aborts as retryable', () =>
    expectTransportErrorsRetryable(classifyOpenAIError, {
      APIConnectionError,
      APIConnectionTimeoutError,
      APIUserAbortError,
    }));

  it('treats anything else as not retryable', () => {
    expect(classifyOpenAIError(new TypeError('bad input'))).toEqual({
      retryable: false,
      keyRefused: false,
      message: 'bad input',
    });
  });
});
