import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import {
  AcceptedKeys,
  delayed,
  hang,
  type KeyCheckingFake,
  listenOnLoopback,
  type RecordedHttpRequest,
  type ResponderOf,
  ResponderScript,
  readJsonBody,
  recordedHttp,
} from './fake-server.js';

/**
 * A loopback server speaking the OpenAI Chat Completions wire format (non-streaming), for running
 * the real `openai` SDK against (and thereby any OpenAI-compatible endpoint, Ollama's included).
 * `POST /v1/chat/completions` checks the key (`Authorization: Bearer`), the body's required fields
 * and the API's rules on tools and tool messages, then answers with the next scripted response or
 * the default one. `GET /v1/models` lists one model. Errors use the API's envelope
 * `{"error":{"message","type","param","code"}}`, and every answer carries an `x-request-id` header.
 */

/** One request the fake received: headers as node parsed them (lower-case names), body as parsed JSON. */
export interface RecordedRequest extends RecordedHttpRequest<IncomingHttpHeaders> {
  /** The key the request presented (the token of `Authorization: Bearer`). */
  apiKey: string | undefined;
}

/** One message of a Chat Completions request. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | null | { type: string; text?: string }[];
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  [field: string]: unknown;
}

/** The fields of a Chat Completions request body a responder usually looks at. */
export interface ChatCompletionsBody {
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  max_completion_tokens?: number;
  tools?: {
    type: 'function';
    function: { name: string; description?: string; parameters?: Record<string, unknown> };
  }[];
  [field: string]: unknown;
}

/** A tool call the fake answers with; `arguments` is sent verbatim when a string (invalid JSON included). */
export interface FakeToolCall {
  id?: string;
  name: string;
  arguments: string | Record<string, unknown>;
}

/** What the fake answers. */
export type FakeResponse =
  | { kind: 'text'; text: string | ((body: ChatCompletionsBody) => string); finishReason?: string; delayMs?: number }
  | { kind: 'tool_calls'; calls: FakeToolCall[]; text?: string; delayMs?: number }
  | {
      kind: 'error';
      status: number;
      type: string;
      message: string;
      code?: string | null;
      param?: string | null;
      headers?: Record<string, string>;
      delayMs?: number;
    }
  | { kind: 'hang' };

/** A response, or a function of the recorded request that picks one. */
export type Responder = ResponderOf<RecordedRequest, FakeResponse>;

/** Builders of the responses the real API gives. */
export const openaiResponses = {
  /** A 200 chat.completion whose message content is `text` (or what `text` makes of the request body). */
  text: (text: string | ((body: ChatCompletionsBody) => string)): FakeResponse => ({ kind: 'text', text }),
  /** A 200 chat.completion asking for tool calls (`finish_reason: "tool_calls"`, content null unless `text`). */
  toolCalls: (calls: FakeToolCall[], text?: string): FakeResponse => ({ kind: 'tool_calls', calls, text }),
  /** 429 rate_limit_exceeded with a `retry-after` header in seconds (and `retry-after-ms` when given). */
  rateLimited: (retryAfterSeconds = 1, retryAfterMs?: number): FakeResponse => ({
    kind: 'error',
    status: 429,
    type: 'requests',
    code: 'rate_limit_exceeded',
    message:
      'Rate limit reached for gpt-fake in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.',
    headers: {
      'retry-after': String(retryAfterSeconds),
      ...(retryAfterMs === undefined ? {} : { 'retry-after-ms': String(retryAfterMs) }),
      'x-ratelimit-remaining-requests': '0',
    },
  }),
  /** 500 server_error. */
  serverError: (): FakeResponse => ({
    kind: 'error',
    status: 500,
    type: 'server_error',
    message: 'The server had an error while processing your request. Sorry about that!',
  }),
  /** 503 (overloaded), optionally with a `retry-after` in seconds. */
  unavailable: (retryAfterSeconds?: number): FakeResponse => ({
    kind: 'error',
    status: 503,
    type: 'server_error',
    message: 'The engine is currently overloaded, please try again later',
    headers: retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) },
  }),
  /** 400 invalid_request_error. */
  invalidRequest: (
    message = "Invalid type for 'messages': expected an array.",
    param: string | null = null,
  ): FakeResponse => ({ kind: 'error', status: 400, type: 'invalid_request_error', message, param }),
  /** 404 model_not_found. */
  notFound: (model = 'gpt-fake'): FakeResponse => ({
    kind: 'error',
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    message: `The model \`${model}\` does not exist or you do not have access to it.`,
  }),
  /** Any error status with the API's envelope. */
  error: (
    status: number,
    type: string,
    message: string,
    options: { code?: string | null; param?: string | null; headers?: Record<string, string> } = {},
  ): FakeResponse => ({ kind: 'error', status, type, message, ...options }),
  delayed: delayed<FakeResponse>,
  hang: hang as () => FakeResponse,
};

/**
 * The script answers accepted `POST /v1/chat/completions` requests; auth failures are recorded too.
 * Until `acceptKeys` is first called any key is accepted, or none (like a keyless Ollama).
 */
export interface FakeOpenAI extends KeyCheckingFake<RecordedRequest, Responder> {
  /** Base URL to give the SDK (`baseURL`), ending in /v1, e.g. http://127.0.0.1:41234/v1 */
  url: string;
}

const requestId = () => `req_${randomBytes(16).toString('hex')}`;
const completionId = () => `chatcmpl-${randomBytes(15).toString('base64url')}`;
const callId = () => `call_${randomBytes(12).toString('base64url')}`;

/** The text of a message's content (a string, or the text parts joined). */
export function contentText(content: ChatMessage['content']): string {
  if (content === undefined || content === null) return '';
  return typeof content === 'string' ? content : content.map((part) => part.text ?? '').join('');
}

/** The default reply: "echo: <last user message>". */
const echo: Responder = openaiResponses.text(
  (body) => `echo: ${contentText(body.messages.filter((m) => m.role === 'user').at(-1)?.content)}`,
);

function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return bearer?.[1];
}

/** The API's masked quote of a refused key: its first 3 and last 4 characters. */
const masked = (key: string) =>
  key.length <= 8 ? '*'.repeat(key.length) : `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** The API's 400 for a body it would refuse: [message, param], or undefined when the body is fine. */
function invalidBody(body: Record<string, unknown>): [string, string | null] | undefined {
  for (const field of ['model', 'messages']) {
    if (!(field in body)) return [`Missing required parameter: '${field}'.`, field];
  }
  if (typeof body.model !== 'string')
    return [`Invalid type for 'model': expected a string, but got ${typeof body.model} instead.`, 'model'];
  const messages = body.messages;
  if (!Array.isArray(messages))
    return [`Invalid type for 'messages': expected an array, but got ${typeof messages} instead.`, 'messages'];
  if (messages.length === 0)
    return [
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
    ];
  if ('max_tokens' in body && 'max_completion_tokens' in body)
    return ["Unsupported parameter: 'max_tokens' is not supported with 'max_completion_tokens'.", 'max_tokens'];
  const tools = body.tools;
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return ["Invalid type for 'tools': expected an array.", 'tools'];
    if (tools.length === 0)
      return [
        "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        'tools',
      ];
    for (const [i, tool] of (tools as NonNullable<ChatCompletionsBody['tools']>).entries()) {
      if (tool?.type !== 'function' || typeof tool.function?.name !== 'string')
        return [`Missing required parameter: 'tools[${i}].function'.`, `tools[${i}].function`];
      if (!TOOL_NAME.test(tool.function.name)) {
        return [
          `Invalid 'tools[${i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
          `tools[${i}].function.name`,
        ];
      }
    }
  }
  // Tool messages answer the tool calls of the assistant message before them, every one of them.
  let open: Set<string> | undefined;
  for (const [i, message] of (messages as ChatMessage[]).entries()) {
    if (!ROLES.has(message?.role))
      return [
        `Invalid value: '${String(message?.role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        `messages[${i}].role`,
      ];
    if (message.role === 'tool') {
      if (!open || typeof message.tool_call_id !== 'string' || !open.has(message.tool_call_id)) {
        return [
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        ];
      }
      open.delete(message.tool_call_id);
      continue;
    }
    if (open && open.size > 0) {
      return [
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(', ')}`,
        'messages',
      ];
    }
    open = undefined;
    if (message.role === 'assistant' && message.tool_calls !== undefined) {
      if (!Array.isArray(message.tool_calls) || message.tool_calls.length === 0)
        return [`Invalid 'messages[${i}].tool_calls': empty array.`, `messages[${i}].tool_calls`];
      for (const call of message.tool_calls) {
        if (typeof call.function?.arguments !== 'string')
          return [
            `Invalid type for 'messages[${i}].tool_calls[0].function.arguments': expected a string.`,
            `messages[${i}].tool_calls`,
          ];
      }
      open = new Set(message.tool_calls.map((call) => call.id));
    } else if (message.content === undefined || message.content === null) {
      return [`Invalid value for 'content': expected a string, got null.`, `messages.[${i}].content`];
    }
  }
  if (open && open.size > 0) {
    return [
      `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(', ')}`,
      'messages',
    ];
  }
  return undefined;
}

export async function startFakeOpenAI(
  options: { acceptKeys?: string[]; default?: Responder } = {},
): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = [];
  const keys = new AcceptedKeys(options.acceptKeys);
  const responders = new ResponderScript<RecordedRequest, FakeResponse>(options.default ?? echo);

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-request-id': requestId(),
      'openai-processing-ms': '12',
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
  const sendError = (
    res: ServerResponse,
    status: number,
    error: { type: string; message: string; code?: string | null; param?: string | null },
    headers?: Record<string, string>,
  ) =>
    send(
      res,
      status,
      { error: { message: error.message, type: error.type, param: error.param ?? null, code: error.code ?? null } },
      headers,
    );

  const answer = async (recorded: RecordedRequest, res: ServerResponse) => {
    const response = responders.next(recorded);
    if (response.kind === 'hang') return responders.waitForClientOr(res);
    if (response.delayMs) await responders.waitForClientOr(res, response.delayMs);
    if (response.kind === 'error') return sendError(res, response.status, response, response.headers);
    const body = recorded.body as ChatCompletionsBody;
    let message: Record<string, unknown>;
    let finishReason: string;
    if (response.kind === 'tool_calls') {
      message = {
        role: 'assistant',
        content: response.text ?? null,
        tool_calls: response.calls.map((call) => ({
          id: call.id ?? callId(),
          type: 'function',
          function: {
            name: call.name,
            arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
          },
        })),
        refusal: null,
        annotations: [],
      };
      finishReason = 'tool_calls';
    } else {
      message = {
        role: 'assistant',
        content: typeof response.text === 'function' ? response.text(body) : response.text,
        refusal: null,
        annotations: [],
      };
      finishReason = response.finishReason ?? 'stop';
    }
    const promptTokens = Math.ceil(JSON.stringify(body.messages).length / 4);
    const completionTokens = Math.ceil(JSON.stringify(message).length / 4);
    send(res, 200, {
      id: completionId(),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
      service_tier: 'default',
      system_fingerprint: null,
    });
  };

  const server = createServer((req, res) => {
    void readJsonBody(req).then((body) => {
      const recorded: RecordedRequest = { ...recordedHttp(req, body), apiKey: presentedKey(req.headers) };
      requests.push(recorded);
      const path = recorded.path.split('?')[0];
      const models = recorded.method === 'GET' && path === '/v1/models';
      if (!models && (recorded.method !== 'POST' || path !== '/v1/chat/completions')) {
        return sendError(res, 404, {
          type: 'invalid_request_error',
          message: `Invalid URL (${recorded.method} ${path})`,
        });
      }
      if (keys.checked && recorded.apiKey === undefined) {
        return sendError(res, 401, {
          type: 'invalid_request_error',
          message:
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        });
      }
      if (keys.refuses(recorded.apiKey)) {
        return sendError(res, 401, {
          type: 'invalid_request_error',
          code: 'invalid_api_key',
          message: `Incorrect API key provided: ${masked(recorded.apiKey!)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        });
      }
      // The Models API's list: a key check that costs no tokens.
      if (models) {
        return send(res, 200, {
          object: 'list',
          data: [{ id: 'gpt-fake-1', object: 'model', created: 1_767_225_600, owned_by: 'system' }],
        });
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return sendError(res, 400, {
          type: 'invalid_request_error',
          message: 'We could not parse the JSON body of your request.',
        });
      }
      const invalid = invalidBody(body as Record<string, unknown>);
      if (invalid)
        return sendError(res, 400, { type: 'invalid_request_error', message: invalid[0], param: invalid[1] });
      answer(recorded, res).catch((error: unknown) =>
        sendError(res, 500, { type: 'server_error', message: `fake-openai: ${String(error)}` }),
      );
    });
  });

  const listener = await listenOnLoopback(server, () => server.closeAllConnections());

  return {
    url: `${listener.origin}/v1`,
    requests,
    acceptKeys: (accepted) => keys.accept(accepted),
    ...responders.controls(),
    close: listener.close,
  };
}
