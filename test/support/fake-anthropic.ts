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
 * A loopback server speaking the Anthropic Messages wire format (non-streaming), for running the
 * real SDK against. `POST /v1/messages` checks the key (the SDK's `Authorization: Bearer` or the
 * API's `x-api-key`), the `anthropic-version` header and the body's required fields, then answers
 * with the next scripted response or the default one. Errors use the API's envelope
 * `{"type":"error","error":{"type","message"},"request_id"}`, and every answer carries a
 * `request-id` header.
 */

/** One request the fake received: headers as node parsed them (lower-case names), body as parsed JSON. */
export interface RecordedRequest extends RecordedHttpRequest<IncomingHttpHeaders> {
  /** The key the request presented (`x-api-key`, or the token of `Authorization: Bearer`). */
  apiKey: string | undefined;
}

/** The fields of a Messages request body a responder usually looks at. */
export interface MessagesBody {
  model: string;
  max_tokens: number;
  system?: string | { type: 'text'; text: string }[];
  messages: { role: 'user' | 'assistant'; content: string | { type: string; text?: string }[] }[];
  [field: string]: unknown;
}

/** What the fake answers. */
export type FakeResponse =
  | {
      kind: 'text';
      text: string | ((body: MessagesBody) => string);
      stopReason?: string;
      delayMs?: number;
      toolUses?: { name: string; input: Record<string, unknown> }[];
    }
  | { kind: 'error'; status: number; type: string; message: string; headers?: Record<string, string>; delayMs?: number }
  | { kind: 'hang' };

/** A response, or a function of the recorded request that picks one. */
export type Responder = ResponderOf<RecordedRequest, FakeResponse>;

/** Builders of the responses the real API gives. */
export const anthropicResponses = {
  /** A 200 Message whose one text block is `text` (or what `text` makes of the request body). */
  text: (text: string | ((body: MessagesBody) => string)): FakeResponse => ({ kind: 'text', text }),
  /** A 200 Message asking for tool calls (`tool_use` blocks, stop_reason "tool_use"), with optional text before them. */
  toolUse: (calls: { name: string; input: Record<string, unknown> }[], text = ''): FakeResponse => ({
    kind: 'text',
    text,
    stopReason: 'tool_use',
    toolUses: calls,
  }),
  /** 429 rate_limit_error with a `retry-after` header in seconds. */
  rateLimited: (retryAfterSeconds = 1): FakeResponse => ({
    kind: 'error',
    status: 429,
    type: 'rate_limit_error',
    message: 'This request would exceed your organization\u2019s rate limit. Please try again later.',
    headers: { 'retry-after': String(retryAfterSeconds), 'anthropic-ratelimit-requests-remaining': '0' },
  }),
  /** 500 api_error. */
  serverError: (): FakeResponse => ({
    kind: 'error',
    status: 500,
    type: 'api_error',
    message: 'Internal server error',
  }),
  /** 529 overloaded_error. */
  overloaded: (): FakeResponse => ({ kind: 'error', status: 529, type: 'overloaded_error', message: 'Overloaded' }),
  /** 400 invalid_request_error. */
  invalidRequest: (message = 'messages: Input should be a valid list'): FakeResponse => ({
    kind: 'error',
    status: 400,
    type: 'invalid_request_error',
    message,
  }),
  /** 404 not_found_error (e.g. an unknown model). */
  notFound: (message = 'model: not found'): FakeResponse => ({
    kind: 'error',
    status: 404,
    type: 'not_found_error',
    message,
  }),
  /** Any error status with the API's envelope. */
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

/** The script answers accepted `POST /v1/messages` requests; auth failures are recorded too. */
export interface FakeAnthropic extends KeyCheckingFake<RecordedRequest, Responder> {
  /** Base URL to give the SDK (`baseURL`), e.g. http://127.0.0.1:41234 */
  url: string;
}

const requestId = () => `req_${randomBytes(12).toString('hex')}`;
const messageId = () => `msg_${randomBytes(12).toString('hex')}`;

/** The text of a message's content (a string, or the text blocks joined). */
export function contentText(content: MessagesBody['messages'][number]['content']): string {
  return typeof content === 'string' ? content : content.map((block) => block.text ?? '').join('');
}

/** The default reply: "echo: <last user message>". */
const echo: Responder = anthropicResponses.text(
  (body) => `echo: ${contentText(body.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '')}`,
);

function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return bearer?.[1];
}

export async function startFakeAnthropic(
  options: { acceptKeys?: string[]; default?: Responder } = {},
): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = [];
  const keys = new AcceptedKeys(options.acceptKeys);
  const responders = new ResponderScript<RecordedRequest, FakeResponse>(options.default ?? echo);

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.writableEnded) return;
    const id = requestId();
    const payload = status >= 400 ? { ...(body as object), request_id: id } : body;
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': id, ...headers });
    res.end(JSON.stringify(payload));
  };
  const sendError = (
    res: ServerResponse,
    status: number,
    type: string,
    message: string,
    headers?: Record<string, string>,
  ) => send(res, status, { type: 'error', error: { type, message } }, headers);

  const answer = async (recorded: RecordedRequest, res: ServerResponse) => {
    const response = responders.next(recorded);
    if (response.kind === 'hang') return responders.waitForClientOr(res);
    if (response.delayMs) await responders.waitForClientOr(res, response.delayMs);
    if (response.kind === 'error')
      return sendError(res, response.status, response.type, response.message, response.headers);
    const body = recorded.body as MessagesBody;
    const text = typeof response.text === 'function' ? response.text(body) : response.text;
    const inputChars = JSON.stringify(body.messages).length + JSON.stringify(body.system ?? '').length;
    send(res, 200, {
      id: messageId(),
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: [
        ...(text || !response.toolUses ? [{ type: 'text', text, citations: null }] : []),
        ...(response.toolUses ?? []).map((call) => ({
          type: 'tool_use',
          id: `toolu_${randomBytes(8).toString('hex')}`,
          name: call.name,
          input: call.input,
        })),
      ],
      stop_reason: response.stopReason ?? 'end_turn',
      stop_sequence: null,
      stop_details: null,
      container: null,
      usage: {
        input_tokens: Math.ceil(inputChars / 4),
        output_tokens: Math.ceil(text.length / 4),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        service_tier: 'standard',
      },
    });
  };

  const server = createServer((req, res) => {
    void readJsonBody(req).then((body) => {
      const recorded: RecordedRequest = { ...recordedHttp(req, body), apiKey: presentedKey(req.headers) };
      requests.push(recorded);
      const path = recorded.path.split('?')[0];
      const models = recorded.method === 'GET' && path === '/v1/models';
      if (!models && (recorded.method !== 'POST' || path !== '/v1/messages'))
        return sendError(res, 404, 'not_found_error', 'Not Found');
      if (recorded.apiKey === undefined)
        return sendError(res, 401, 'authentication_error', 'x-api-key header is required');
      if (keys.refuses(recorded.apiKey)) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
      if (!req.headers['anthropic-version'])
        return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
      // The Models API's list, as a key check costs no tokens (GET /v1/models?limit=1).
      if (models) {
        return send(res, 200, {
          data: [
            { type: 'model', id: 'claude-fake-1', display_name: 'Claude Fake 1', created_at: '2026-01-01T00:00:00Z' },
          ],
          has_more: false,
          first_id: 'claude-fake-1',
          last_id: 'claude-fake-1',
        });
      }
      if (typeof body !== 'object' || body === null)
        return sendError(res, 400, 'invalid_request_error', 'Request body must be a JSON object');
      for (const field of ['model', 'max_tokens', 'messages']) {
        if (!(field in body)) return sendError(res, 400, 'invalid_request_error', `${field}: Field required`);
      }
      answer(recorded, res).catch((error: unknown) =>
        sendError(res, 500, 'api_error', `fake-anthropic: ${String(error)}`),
      );
    });
  });

  const listener = await listenOnLoopback(server, () => server.closeAllConnections());

  return {
    url: listener.origin,
    requests,
    acceptKeys: (accepted) => keys.accept(accepted),
    ...responders.controls(),
    close: listener.close,
  };
}
