import {
  AccessDeniedException,
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  ConflictException,
  InternalServerException,
  ModelErrorException,
  ModelNotReadyException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BEDROCK_ENDPOINT_ENV,
  BedrockProvider,
  classifyBedrockError,
  createBedrockClient,
  toConverseMessages,
} from '../../lib/models/bedrock.js';
import type { ToolSpec, ToolStep } from '../../lib/models/port.js';
import {
  blocksText,
  type FakeBedrock,
  bedrockResponses as respond,
  startFakeBedrock,
} from '../support/fake-bedrock.js';
import {
  closedFakeUrl,
  expectHungRequestGivenUp,
  expectResultsSentAsJson,
  message,
  modelErrorWithout,
  request,
} from '../support/provider-test-kit.js';

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const ACCESS_KEY_ID = 'AKIDTESTBEDROCK00001';
const credentials = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'test-secret-access-key' };

const TOOLS: ToolSpec[] = [
  {
    name: 'memory.read',
    description: 'Reads the thread memory.',
    inputSchema: { type: 'object', properties: { limit: { type: 'integer' } } },
  },
  {
    name: 'web.fetch_page',
    description: 'Fetches a page.',
    inputSchema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
  },
];

/** Runs `promise`, expecting a ModelError, and returns it. */
const modelError = modelErrorWithout();

let fake: FakeBedrock;
let client: BedrockRuntimeClient;
beforeAll(async () => {
  fake = await startFakeBedrock();
  client = createBedrockClient({ endpoint: fake.url, region: 'us-east-1', credentials });
});
afterAll(async () => {
  client?.destroy();
  await fake?.close();
});
beforeEach(() => {
  fake.requests.length = 0;
});

const provider = (model = MODEL) => new BedrockProvider(model, { client, maxTokens: 256 });
const underTest = () => ({ fake, provider: () => provider(), modelError });

describe('BedrockProvider against the fake Converse API', () => {
  it('sends system, memory as alternating turns and the input last, signed with SigV4, and returns the text', async () => {
    const memory = [
      message('assistant', 'orphan'),
      message('user', 'Hi, I am Ada.'),
      message('assistant', 'Hello Ada!'),
      message('user', 'I like maps.'),
      message('user', 'And trains.'),
      message('assistant', 'Noted.'),
      message('user', ' '),
    ];
    const reply = await provider().complete(request({ memory, subAgents: ['data'] }));

    expect(reply).toEqual({ text: 'echo: What is the capital of France?', model: `bedrock:${MODEL}` });
    expect(fake.requests).toHaveLength(1);
    const [sent] = fake.requests;
    // The model id travels URL-encoded in the path (":" as %3A).
    expect(sent).toMatchObject({
      method: 'POST',
      path: '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
      modelId: MODEL,
    });
    expect(sent!.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTESTBEDROCK00001\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=/,
    );
    expect(sent!.accessKeyId).toBe(ACCESS_KEY_ID);
    expect(sent!.signedFor).toEqual({ region: 'us-east-1', service: 'bedrock' });
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.body.system).toHaveLength(1);
    expect(sent!.body.system[0].text).toContain('"helper"');
    expect(sent!.body.system[0].text).toContain('data');
    expect(sent!.body.inferenceConfig).toEqual({ maxTokens: 256 });
    expect(sent!.body).not.toHaveProperty('toolConfig');
    expect(sent!.body).not.toHaveProperty('modelId'); // a path parameter, not a body field
    expect(sent!.body.messages).toEqual([
      { role: 'user', content: [{ text: 'Hi, I am Ada.' }] },
      { role: 'assistant', content: [{ text: 'Hello Ada!' }] },
      { role: 'user', content: [{ text: 'I like maps.\n\nAnd trains.' }] },
      { role: 'assistant', content: [{ text: 'Noted.' }] },
      { role: 'user', content: [{ text: 'What is the capital of France?' }] },
    ]);
  });

  it('puts the sub-agent results into the coalesce request as JSON', async () => {
    await expectResultsSentAsJson(provider(), () => {
      const last = fake.requests[0]!.body.messages.at(-1);
      return { role: last.role, text: blocksText(last.content) };
    });
  });

  it('sends the tools with "__" names and parses a toolUse back into tool calls with dotted names', async () => {
    fake.script(
      respond.toolUse(
        [
          { name: 'memory__read', input: { limit: 5 }, toolUseId: 'tooluse_a1' },
          { name: 'web__fetch_page', input: { url: 'https://example.com' }, toolUseId: 'tooluse_b2' },
        ],
        'Let me look.',
      ),
    );
    const reply = await provider().complete(request({ tools: TOOLS }));

    expect(reply).toEqual({
      text: 'Let me look.',
      toolCalls: [
        { id: 'tooluse_a1', name: 'memory.read', input: { limit: 5 } },
        { id: 'tooluse_b2', name: 'web.fetch_page', input: { url: 'https://example.com' } },
      ],
      model: `bedrock:${MODEL}`,
    });
    expect(fake.requests[0]!.body.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: 'memory__read',
            description: 'Reads the thread memory.',
            inputSchema: { json: TOOLS[0]!.inputSchema },
          },
        },
        {
          toolSpec: {
            name: 'web__fetch_page',
            description: 'Fetches a page.',
            inputSchema: { json: TOOLS[1]!.inputSchema },
          },
        },
      ],
    });
  });

  it('maps the steps of the tool loop to toolUse and toolResult turns (an error result with status "error")', async () => {
    const steps: ToolStep[] = [
      {
        text: 'Let me look.',
        calls: [
          { id: 'tooluse_a1', name: 'memory.read', input: { limit: 5 } },
          { id: 'tooluse_b2', name: 'web.fetch_page', input: { url: 'https://example.com' } },
        ],
        results: [
          { id: 'tooluse_a1', name: 'memory.read', content: '[]' },
          { id: 'tooluse_b2', name: 'web.fetch_page', content: 'denied: not allowed for this agent', isError: true },
        ],
      },
      {
        text: '',
        calls: [{ id: 'tooluse_c3', name: 'memory.read', input: {} }],
        results: [{ id: 'tooluse_c3', name: 'memory.read', content: '' }],
      },
    ];
    fake.script(respond.text('Paris.'));
    const reply = await provider().complete(request({ tools: TOOLS, steps }));

    expect(reply).toEqual({ text: 'Paris.', model: `bedrock:${MODEL}` });
    expect(fake.requests[0]!.body.messages).toEqual([
      { role: 'user', content: [{ text: 'What is the capital of France?' }] },
      {
        role: 'assistant',
        content: [
          { text: 'Let me look.' },
          { toolUse: { toolUseId: 'tooluse_a1', name: 'memory__read', input: { limit: 5 } } },
          { toolUse: { toolUseId: 'tooluse_b2', name: 'web__fetch_page', input: { url: 'https://example.com' } } },
        ],
      },
      {
        role: 'user',
        content: [
          { toolResult: { toolUseId: 'tooluse_a1', content: [{ text: '[]' }] } },
          {
            toolResult: {
              toolUseId: 'tooluse_b2',
              content: [{ text: 'denied: not allowed for this agent' }],
              status: 'error',
            },
          },
        ],
      },
      { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_c3', name: 'memory__read', input: {} } }] },
      // Converse refuses blank text: an empty result is sent as "(no output)".
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_c3', content: [{ text: '(no output)' }] } }] },
    ]);
  });

  it('says a result failed in its text for models that refuse the status field', async () => {
    const steps: ToolStep[] = [
      {
        text: '',
        calls: [{ id: 'tooluse_x', name: 'memory.read', input: {} }],
        results: [{ id: 'tooluse_x', name: 'memory.read', content: 'boom', isError: true }],
      },
    ];
    await provider('meta.llama3-1-70b-instruct-v1:0').complete(request({ tools: TOOLS, steps }));
    expect(fake.requests[0]!.body.messages.at(-1)).toEqual({
      role: 'user',
      content: [{ toolResult: { toolUseId: 'tooluse_x', content: [{ text: 'Error: boom' }] } }],
    });
    // Inference profiles of Claude and Nova keep the status.
    await provider('us.amazon.nova-pro-v1:0').complete(request({ tools: TOOLS, steps }));
    expect(fake.requests[1]!.body.messages.at(-1).content[0].toolResult.status).toBe('error');
  });

  it('classifies a 429 ThrottlingException as retryable with the retry-after, without the SDK retrying', async () => {
    fake.script(respond.throttled(3), respond.throttled());
    const failure = await modelError(provider().complete(request()));
    expect(failure).toMatchObject({ retryable: true, status: 429, retryAfterMs: 3_000, model: `bedrock:${MODEL}` });
    expect(failure.message).toBe(
      `bedrock:${MODEL} failed: HTTP 429 ThrottlingException: Too many requests, please wait before trying again.`,
    );
    expect(failure.cause).toBeInstanceOf(ThrottlingException);
    expect(fake.requests).toHaveLength(1);

    const bare = await modelError(provider().complete(request()));
    expect(bare).toMatchObject({ retryable: true, status: 429, retryAfterMs: undefined });
    expect(fake.requests).toHaveLength(2);
  });

  it('classifies 500 InternalServerException and 503 ServiceUnavailableException as retryable', async () => {
    fake.script(respond.internalError(), respond.unavailable());
    const internal = await modelError(provider().complete(request()));
    expect(internal).toMatchObject({ retryable: true, status: 500 });
    expect(internal.cause).toBeInstanceOf(InternalServerException);
    const unavailable = await modelError(provider().complete(request()));
    expect(unavailable).toMatchObject({ retryable: true, status: 503 });
    expect(unavailable.cause).toBeInstanceOf(ServiceUnavailableException);
    expect(fake.requests).toHaveLength(2);
  });

  it('classifies a 400 ValidationException and a 404 ResourceNotFoundException as not retryable', async () => {
    fake.script(respond.validation('The maximum tokens you requested exceeds the model limit'), respond.notFound());
    const bad = await modelError(provider().complete(request()));
    expect(bad).toMatchObject({ retryable: false, status: 400 });
    expect(bad.message).toContain('ValidationException: The maximum tokens you requested exceeds the model limit');
    expect(bad.cause).toBeInstanceOf(ValidationException);
    const missing = await modelError(provider().complete(request()));
    expect(missing).toMatchObject({ retryable: false, status: 404 });
    expect(missing.cause).toBeInstanceOf(ResourceNotFoundException);
  });

  it('refuses what the real service would: the fake validates the conversation', async () => {
    // A tool result without tools: Bedrock requires a toolConfig for tool blocks (a caller error, not the model's).
    const steps: ToolStep[] = [
      {
        text: '',
        calls: [{ id: 'tooluse_x', name: 'memory.read', input: {} }],
        results: [{ id: 'tooluse_x', name: 'memory.read', content: 'x' }],
      },
    ];
    const failure = await modelError(provider().complete(request({ steps })));
    expect(failure).toMatchObject({ retryable: false, status: 400 });
    expect(failure.message).toContain('toolConfig');
  });

  it('treats a 403 AccessDeniedException (the role may not use the model) as retryable, with its status', async () => {
    fake.script(
      respond.accessDenied(),
      respond.error(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'),
    );
    const denied = await modelError(provider().complete(request()));
    expect(denied).toMatchObject({ retryable: true, status: 403 });
    expect(denied.cause).toBeInstanceOf(AccessDeniedException);
    // An exception Bedrock does not model comes back as the service's base exception, named by the header.
    const unrecognized = await modelError(provider().complete(request()));
    expect(unrecognized).toMatchObject({ retryable: true, status: 403 });
    expect(unrecognized.cause).toBeInstanceOf(BedrockRuntimeServiceException);
    expect((unrecognized.cause as Error).name).toBe('UnrecognizedClientException');
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

  it('treats an unreachable endpoint as a retryable connection error', async () => {
    const unreachableClient = createBedrockClient({
      endpoint: await closedFakeUrl(startFakeBedrock),
      region: 'us-east-1',
      credentials,
    });
    try {
      const failure = await modelError(new BedrockProvider(MODEL, { client: unreachableClient }).complete(request()));
      expect(failure).toMatchObject({ retryable: true, status: undefined });
      expect(failure.message).toContain('connection failed');
    } finally {
      unreachableClient.destroy();
    }
  });

  it(`uses one module client: endpoint from ${BEDROCK_ENDPOINT_ENV}, the default credential chain, SigV4 only, one attempt`, async () => {
    const names = [
      BEDROCK_ENDPOINT_ENV,
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_BEARER_TOKEN_BEDROCK',
      'AWS_MAX_ATTEMPTS',
    ] as const;
    const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    Object.assign(process.env, {
      [BEDROCK_ENDPOINT_ENV]: fake.url,
      AWS_ACCESS_KEY_ID: 'AKIDFROMTHEROLE00001',
      AWS_SECRET_ACCESS_KEY: 'role-secret',
      AWS_SESSION_TOKEN: 'role-session-token',
      // The SDK would prefer a Bedrock API key in the environment over the role; the provider does not.
      AWS_BEARER_TOKEN_BEDROCK: 'bedrock-api-key-must-not-be-used',
      AWS_MAX_ATTEMPTS: '5',
    });
    const plain = new BedrockRuntimeClient({});
    try {
      fake.script(respond.unavailable());
      expect(await modelError(new BedrockProvider(MODEL).complete(request()))).toMatchObject({
        retryable: true,
        status: 503,
      });
      expect(fake.requests).toHaveLength(1); // maxAttempts 1 wins over AWS_MAX_ATTEMPTS

      const reply = await new BedrockProvider(MODEL).complete(request());
      expect(reply.text).toBe('echo: What is the capital of France?');
      for (const sent of fake.requests) {
        expect(sent.accessKeyId).toBe('AKIDFROMTHEROLE00001');
        expect(sent.headers['x-amz-security-token']).toBe('role-session-token');
      }

      // What the setting prevents: a client with the SDK's defaults sends the API key instead.
      await new BedrockProvider(MODEL, { client: plain }).complete(request());
      expect(fake.requests.at(-1)!.authorization).toBe('Bearer bedrock-api-key-must-not-be-used');
    } finally {
      plain.destroy();
      for (const name of names) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });
});

describe('toConverseMessages', () => {
  it('drops a leading assistant message and empty ones, and ends with the input', () => {
    expect(
      toConverseMessages([message('assistant', 'orphan'), message('user', ''), message('user', 'hi')], 'next'),
    ).toEqual([{ role: 'user', content: [{ text: 'hi\n\nnext' }] }]);
    expect(toConverseMessages([], 'only')).toEqual([{ role: 'user', content: [{ text: 'only' }] }]);
  });
});

describe('classifyBedrockError', () => {
  const metadata = (httpStatusCode: number) => ({
    $metadata: { httpStatusCode, requestId: 'req-1', attempts: 1, totalRetryDelay: 0 },
    message: 'boom',
  });

  it.each([
    [ThrottlingException, 429, true],
    [ModelNotReadyException, 429, true],
    [ServiceUnavailableException, 503, true],
    [InternalServerException, 500, true],
    [ModelTimeoutException, 408, true],
    [ModelErrorException, 424, true],
    [ServiceQuotaExceededException, 400, true],
    [AccessDeniedException, 403, true],
    [ValidationException, 400, false],
    [ResourceNotFoundException, 404, false],
    [ConflictException, 400, false],
  ] as const)('%o (%s) → retryable %s', (Exception, status, retryable) => {
    const error = new Exception(metadata(status) as never);
    const failure = classifyBedrockError(error);
    expect(failure).toEqual({ retryable, status, message: `HTTP ${status} ${error.name}: boom` });
    expect(failure.message).not.toContain('req-1');
  });

  it('reads retry-after (seconds or an HTTP date) from the raw response of a retryable error', () => {
    const withRetryAfter = (value: string) => {
      const error = new ThrottlingException(metadata(429) as never);
      Object.defineProperty(error, '$response', { value: { statusCode: 429, headers: { 'retry-after': value } } });
      return error;
    };
    expect(classifyBedrockError(withRetryAfter('2'))).toMatchObject({ retryAfterMs: 2_000 });
    const date = classifyBedrockError(withRetryAfter(new Date(Date.now() + 10_000).toUTCString())).retryAfterMs!;
    expect(date).toBeGreaterThan(8_000);
    expect(date).toBeLessThanOrEqual(10_000);
    expect(classifyBedrockError(withRetryAfter('soon'))).not.toHaveProperty('retryAfterMs');
  });

  it('uses the status of exceptions it does not know: 401/403/408/429/5xx retryable, other 4xx not', () => {
    const unknown = (name: string, status: number) =>
      new BedrockRuntimeServiceException({
        name,
        $fault: status >= 500 ? 'server' : 'client',
        ...metadata(status),
      } as never);
    expect(classifyBedrockError(unknown('UnrecognizedClientException', 403))).toMatchObject({
      retryable: true,
      status: 403,
    });
    expect(classifyBedrockError(unknown('ExpiredTokenException', 403))).toMatchObject({ retryable: true, status: 403 });
    expect(classifyBedrockError(unknown('Unauthorized', 401))).toMatchObject({ retryable: true, status: 401 });
    expect(classifyBedrockError(unknown('BadGateway', 502))).toMatchObject({ retryable: true, status: 502 });
    expect(classifyBedrockError(unknown('PayloadTooLarge', 413))).toMatchObject({ retryable: false, status: 413 });
    // A proxy's HTML page: the SDK's deserialization error still carries $metadata.httpStatusCode.
    expect(
      classifyBedrockError(
        Object.assign(new SyntaxError('Unexpected token <'), { $metadata: { httpStatusCode: 504 } }),
      ),
    ).toMatchObject({ retryable: true, status: 504 });
  });

  it('treats aborts, timeouts, connection failures and missing credentials as retryable', () => {
    const abortError = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    expect(classifyBedrockError(abortError)).toEqual({ retryable: true, message: 'request aborted' });
    const timedOut = AbortSignal.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    expect(classifyBedrockError(new Error('whatever'), timedOut)).toEqual({
      retryable: true,
      message: 'request timed out (deadline reached)',
    });
    expect(classifyBedrockError(Object.assign(new Error('Stream timed out'), { name: 'TimeoutError' }))).toMatchObject({
      retryable: true,
    });
    expect(
      classifyBedrockError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })),
    ).toMatchObject({ retryable: true, message: 'connection failed: connect ECONNREFUSED 127.0.0.1:1' });
    expect(
      classifyBedrockError(Object.assign(new Error('Session closed'), { code: 'ERR_HTTP2_SESSION_ERROR' })),
    ).toMatchObject({ retryable: true });
    expect(
      classifyBedrockError(
        Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      ),
    ).toMatchObject({ retryable: true });
    for (const failure of [
      classifyBedrockError(abortError),
      classifyBedrockError(Object.assign(new Error('x'), { code: 'ECONNRESET' })),
    ])
      expect(failure).not.toHaveProperty('status');
  });

  it('treats anything else as not retryable', () => {
    expect(classifyBedrockError(new TypeError('bad input'))).toEqual({ retryable: false, message: 'bad input' });
  });
});
