import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  APIGatewayRequestAuthorizerEventV2,
  Context,
} from 'aws-lambda';
import { DEFAULT_HANDLER_TIMEOUT_SECONDS, type RouteDefinition } from '../../lib/api/routes.js';
import { authorizerEvent, lambdaContext, matchRoute, proxyEvent } from './api-gateway.js';

type RouteHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
type Authorizer = (
  event: APIGatewayRequestAuthorizerEventV2,
) => Promise<{ isAuthorized: boolean; context?: Record<string, unknown> }>;

/** API Gateway's own payload limit; the handlers enforce the API's much smaller one. */
const GATEWAY_MAX_BODY = 10 * 1024 * 1024;

/** The local stand-in for the HTTP API: routes with the shared route table and invokes the same handlers. */
export function createApiServer(options: {
  routes: readonly RouteDefinition[];
  handlers: Record<string, RouteHandler>;
  authorizer: Authorizer;
  onError?: (error: unknown) => void;
}): Server {
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const gatewayError = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { error: { code, message } });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const match = matchRoute(options.routes, req.method ?? 'GET', url.pathname);
    if (!('route' in match)) {
      gatewayError(
        res,
        404,
        'route_not_found',
        match.methodMismatch ? `${req.method} is not supported on ${url.pathname}` : `no route ${url.pathname}`,
      );
      return;
    }
    const body = await readBody(req, GATEWAY_MAX_BODY);
    if (body === undefined) {
      gatewayError(res, 413, 'payload_too_large', 'the request body exceeds the gateway limit');
      return;
    }
    const event = proxyEvent(req, url, match, body);
    if (match.route.auth !== 'none') {
      // As API Gateway: a missing identity source is refused before the authorizer runs.
      if (!event.headers.authorization) {
        gatewayError(res, 401, 'unauthorized', 'a valid API key is required (Authorization: Bearer <key>)');
        return;
      }
      const decision = await options.authorizer(authorizerEvent(event));
      if (!decision.isAuthorized) {
        gatewayError(res, 403, 'forbidden', 'forbidden');
        return;
      }
      (event.requestContext as { authorizer?: unknown }).authorizer = { lambda: decision.context ?? {} };
    }
    const handler = options.handlers[match.route.handler];
    if (!handler) throw new Error(`no handler loaded for ${match.route.handler}`);
    const timeoutMs = (match.route.timeoutSeconds ?? DEFAULT_HANDLER_TIMEOUT_SECONDS) * 1000;
    const result = await handler(event, lambdaContext(`threadbound-${match.route.handler}`, timeoutMs));
    const payload =
      result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
    res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
    res.end(payload);
  };

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.onError?.(error);
      // What API Gateway answers when the integration itself fails.
      if (!res.headersSent) send(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });
}

/** Reads a request body, or undefined when it is larger than `limit`. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
