import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
} from 'node:http2';
import {
  delayed,
  hang,
  listenOnLoopback,
  type RecordedHttpRequest,
  type ResponderOf,
  ResponderScript,
  readJsonBody,
  recordedHttp,
  type ScriptedFake,
} from './fake-server.js';

/**
 * A loopback server speaking the Bedrock Runtime Converse wire format (restJson1), for running the
 * real `@aws-sdk/client-bedrock-runtime` against. It is an HTTP/2 cleartext (h2c) server because
 * that client sends every request over HTTP/2 (its default handler is NodeHttp2Handler).
 *
 * `POST /model/{modelId}/converse` (the model id URL-encoded) takes any SigV4 signature or bearer
 * token (the Authorization header is recorded, the signature never checked), checks the body the
 * way Bedrock's validation does for what this project sends (a user turn first, alternating roles,
 * no blank text, tool blocks only with a toolConfig, every toolUse answered), then answers with the
 * next scripted response or the default one. Errors carry the service's `x-amzn-errortype` header
 * (`<Exception>:<namespace uri>`, which the SDK trims to the exception name) and a
 * `{"message": ...}` body; every answer carries an `x-amzn-requestid`.
 */

/** One request the fake received: headers as node parsed them (lower-case names), body as parsed JSON. */
export interface RecordedRequest extends RecordedHttpRequest<IncomingHttpHeaders> {
  /** The model id of the path, URL-decoded ("anthropic.claude-3-haiku-20240307-v1:0"). */
  modelId: string | undefined;
  /** The Authorization header, as sent. */
  authorization: string | undefined;
  /** The access key id of a SigV4 signature (from `Credential=<id>/<date>/<region>/<service>/aws4_request`). */
  accessKeyId: string | undefined;
  /** The region and service a SigV4 signature was made for. */
  signedFor: { region: string; service: string } | undefined;
}

/** A Converse content block as the SDK sends it (the members this project uses). */
export interface ConverseBlock {
  text?: string;
  toolUse?: { toolUseId: string; name: string; input: unknown };
  toolResult?: { toolUseId: string; content: { text?: string; json?: unknown }[]; status?: 'success' | 'error' };
  [member: string]: unknown;
}

/** The fields of a Converse request body a responder usually looks at (the model id is in the path). */
export interface ConverseBody {
  messages: { role: 'user' | 'assistant'; content: ConverseBlock[] }[];
  system?: { text?: string }[];
  inferenceConfig?: { maxTokens?: number; temperature?: number };
  toolConfig?: { tools: { toolSpec?: { name: string; description?: string; inputSchema: { json: unknown } } }[] };
  [field: string]: unknown;
}

/** A tool call the fake makes the model ask for. */
export interface FakeToolUse {
  name: string;
  input: Record<string, unknown>;
  /** Default: a fresh "tooluse_…" id. */
  toolUseId?: string;
}

/** What the fake answers. */
export type FakeResponse =
  | { kind: 'text'; text: string | ((body: ConverseBody) => string); stopReason?: string; delayMs?: number }
  | { kind: 'toolUse'; calls: FakeToolUse[]; text?: string; delayMs?: number }
  | { kind: 'error'; status: number; type: string; message: string; headers?: Record<string, string>; delayMs?: number }
  | { kind: 'hang' };

/** A response, or a function of the recorded request that picks one. */
export type Responder = ResponderOf<RecordedRequest, FakeResponse>;

/** Builders of the responses the real service gives. */
export const bedrockResponses = {
  /** A 200 Converse response whose one text block is `text` (or what `text` makes of the request body). */
  text: (text: string | ((body: ConverseBody) => string), stopReason = 'end_turn'): FakeResponse => ({
    kind: 'text',
    text,
    stopReason,
  }),
  /** A 200 Converse response asking for tool calls (`stopReason: "tool_use"`), after an optional text block. */
  toolUse: (calls: FakeToolUse[], text?: string): FakeResponse => ({ kind: 'toolUse', calls, text }),
  /** 429 ThrottlingException, with a `retry-after` header (seconds) when given. */
  throttled: (retryAfterSeconds?: number): FakeResponse => ({
    kind: 'error',
    status: 429,
    type: 'ThrottlingException',
    message: 'Too many requests, please wait before trying again.',
    headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  }),
  /** 500 InternalServerException. */
  internalError: (): FakeResponse => ({
    kind: 'error',
    status: 500,
    type: 'InternalServerException',
    message: 'The server encountered an internal error.',
  }),
  /** 503 ServiceUnavailableException. */
  unavailable: (): FakeResponse => ({
    kind: 'error',
    status: 503,
    type: 'ServiceUnavailableException',
    message: 'Bedrock is unable to process your request.',
  }),
  /** 400 ValidationException. */
  validation: (message = 'Malformed input request, please reformat your input and try again.'): FakeResponse => ({
    kind: 'error',
    status: 400,
    type: 'ValidationException',
    message,
  }),
  /** 403 AccessDeniedException (the role may not invoke the model, or model access is not granted). */
  accessDenied: (message = "You don't have access to the model with the specified model ID."): FakeResponse => ({
    kind: 'error',
    status: 403,
    type: 'AccessDeniedException',
    message,
  }),
  /** 404 ResourceNotFoundException. */
  notFound: (message = 'Model not found.'): FakeResponse => ({
    kind: 'error',
    status: 404,
    type: 'ResourceNotFoundException',
    message,
  }),
  /** Any error status and exception name, with the service's error shape. */
  error: (status: number, type: string, message: string, headers?: Record<string, string>): FakeResponse => ({
    kind: 'error',
    status,
    type,
    message,
    headers,
  }),
  delayed: delayed<FakeResponse>,
  hang: hang as () => FakeResponse,
};

/** The script answers valid Converse requests (the default echoes the last user text); refused ones are recorded too. */
export interface FakeBedrock extends ScriptedFake<RecordedRequest, Responder> {
  /** Endpoint to give the SDK (`endpoint`, or AWS_ENDPOINT_URL_BEDROCK_RUNTIME), e.g. http://127.0.0.1:41234 */
  url: string;
}

/** Where the service's error type header points (Coral's namespace uri, dropped by the SDK). */
const ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.bedrock/';
const toolUseId = () => `tooluse_${randomBytes(11).toString('base64url')}`;

/** The text blocks of a message joined. */
export function blocksText(content: ConverseBlock[]): string {
  return content.map((block) => block.text ?? '').join('');
}

/** The default reply: "echo: <text of the last user message that has text>". */
const echo: Responder = bedrockResponses.text(
  (body) =>
    `echo: ${blocksText(body.messages.filter((m) => m.role === 'user' && m.content.some((b) => b.text !== undefined)).at(-1)?.content ?? [])}`,
);

/** What Bedrock's validation would refuse in a body, in its words; undefined when it is fine. */
function invalid(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'Malformed input request: expected a JSON object';
  const { messages, toolConfig } = body as ConverseBody;
  if (!Array.isArray(messages) || messages.length === 0)
    return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
  if (messages[0]!.role !== 'user')
    return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
  const names = new Set<string>();
  for (const tool of toolConfig?.tools ?? []) {
    const name = tool.toolSpec?.name ?? '';
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name))
      return `1 validation error detected: Value '${name}' at 'toolConfig.tools.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+`;
    names.add(name);
  }
  let open: Set<string> = new Set();
  for (const [index, message] of messages.entries()) {
    if (index > 0 && message.role === messages[index - 1]!.role)
      return 'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.';
    if (!Array.isArray(message.content) || message.content.length === 0)
      return `The content field in the Message object at messages.${index} is empty. Add a ContentBlock object to the content field and try again.`;
    const answered = new Set<string>();
    const used = new Set<string>();
    for (const block of message.content) {
      if (block.text !== undefined && block.text.trim() === '')
        return `The text field in the ContentBlock object at messages.${index}.content is blank. Add text to the text field, and try again.`;
      if (block.toolUse || block.toolResult) {
        if (!toolConfig)
          return 'The toolConfig field must be defined when using toolUse and toolResult content blocks.';
      }
      if (block.toolUse) {
        if (message.role !== 'assistant')
          return `messages.${index}: toolUse blocks are only allowed in assistant messages.`;
        if (!names.has(block.toolUse.name)) return `The tool ${block.toolUse.name} is not in the toolConfig.`;
        used.add(block.toolUse.toolUseId);
      }
      if (block.toolResult) {
        if (message.role !== 'user') return `messages.${index}: toolResult blocks are only allowed in user messages.`;
        if (!open.has(block.toolResult.toolUseId))
          return `Expected toolResult blocks at messages.${index}.content for the following Ids: ${[...open].join(', ')}`;
        if (block.toolResult.content.some((part) => part.text !== undefined && part.text.trim() === ''))
          return `The text field in the ToolResultContentBlock at messages.${index} is blank.`;
        answered.add(block.toolResult.toolUseId);
      }
    }
    if (message.role === 'user' && open.size > 0 && [...open].some((id) => !answered.has(id))) {
      return `Expected toolResult blocks at messages.${index}.content for the following Ids: ${[...open].filter((id) => !answered.has(id)).join(', ')}`;
    }
    open = message.role === 'assistant' ? used : new Set();
  }
  return undefined;
}

export async function startFakeBedrock(options: { default?: Responder } = {}): Promise<FakeBedrock> {
  const requests: RecordedRequest[] = [];
  const responders = new ResponderScript<RecordedRequest, FakeResponse>(options.default ?? echo);
  const sessions = new Set<ServerHttp2Session>();

  const send = (res: Http2ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.writableEnded || res.stream.closed) return;
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID(), ...headers });
    res.end(JSON.stringify(body));
  };
  const sendError = (
    res: Http2ServerResponse,
    status: number,
    type: string,
    message: string,
    headers: Record<string, string> = {},
  ) => send(res, status, { message }, { 'x-amzn-errortype': `${type}:${ERROR_NAMESPACE}`, ...headers });

  const answer = async (recorded: RecordedRequest, res: Http2ServerResponse) => {
    const response = responders.next(recorded);
    // An Http2ServerResponse closes when the client resets the stream.
    if (response.kind === 'hang') return responders.waitForClientOr(res);
    if (response.delayMs) await responders.waitForClientOr(res, response.delayMs);
    if (response.kind === 'error')
      return sendError(res, response.status, response.type, response.message, response.headers);
    const body = recorded.body as ConverseBody;
    let content: ConverseBlock[];
    let stopReason: string;
    if (response.kind === 'toolUse') {
      content = [
        ...(response.text ? [{ text: response.text }] : []),
        ...response.calls.map((call) => ({
          toolUse: { toolUseId: call.toolUseId ?? toolUseId(), name: call.name, input: call.input },
        })),
      ];
      stopReason = 'tool_use';
    } else {
      content = [{ text: typeof response.text === 'function' ? response.text(body) : response.text }];
      stopReason = response.stopReason ?? 'end_turn';
    }
    const inputTokens = Math.ceil(
      (JSON.stringify(body.messages).length + JSON.stringify(body.system ?? []).length) / 4,
    );
    const outputTokens = Math.ceil(JSON.stringify(content).length / 4);
    send(res, 200, {
      output: { message: { role: 'assistant', content } },
      stopReason,
      usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
      metrics: { latencyMs: response.delayMs ?? 1 },
    });
  };

  const server = createServer((req: Http2ServerRequest, res: Http2ServerResponse) => {
    void readJsonBody(req).then((body) => {
      const http = recordedHttp(req, body);
      const { path } = http;
      const route = /^\/model\/([^/?]+)\/converse(?:\?|$)/.exec(path);
      const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
      const credential = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authorization ?? '');
      let modelId: string | undefined;
      try {
        modelId = route ? decodeURIComponent(route[1]!) : undefined;
      } catch {
        modelId = route?.[1];
      }
      const recorded: RecordedRequest = {
        ...http,
        modelId,
        authorization,
        accessKeyId: credential?.[1],
        signedFor: credential ? { region: credential[2]!, service: credential[3]! } : undefined,
      };
      requests.push(recorded);
      if (req.method !== 'POST' || !route)
        return sendError(res, 404, 'UnknownOperationException', `No operation ${req.method} ${path}`);
      if (!authorization)
        return sendError(res, 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      if (!/^(AWS4-HMAC-SHA256 Credential=|Bearer )/.test(authorization))
        return sendError(
          res,
          403,
          'IncompleteSignatureException',
          'Authorization header requires a SigV4 signature or a bearer token.',
        );
      const problem = invalid(body);
      if (problem) return sendError(res, 400, 'ValidationException', problem);
      answer(recorded, res).catch((error: unknown) =>
        sendError(res, 500, 'InternalServerException', `fake-bedrock: ${String(error)}`),
      );
    });
  });
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });

  // An HTTP/2 server has no closeAllConnections: closing destroys its sessions instead.
  const listener = await listenOnLoopback(server, () => {
    for (const session of sessions) session.destroy();
  });

  return {
    url: listener.origin,
    requests,
    ...responders.controls(),
    close: listener.close,
  };
}
