/**
 * The HTTP API as data. CDK creates one API Gateway route and one Lambda per entry; the local
 * server routes with the same table. `handler` names the module functions/api/<handler>.ts.
 */
export interface RouteDefinition {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API Gateway path syntax: {name} is a path parameter. */
  path: string;
  handler: string;
  /** none: public; tenant: any valid API key; admin: an admin key. */
  auth: 'none' | 'tenant' | 'admin';
  /** What the handler's role may do on the table (least privilege per route). */
  table: 'none' | 'read' | 'write';
  /** Whether the route takes a JSON body (content type and size are checked at the edge). */
  body: boolean;
  /** Whether the handler starts turn workflow executions (it may call states:StartExecution). */
  startsTurns?: boolean;
  /** Longest time the handler may run (seconds; API Gateway allows at most 30). */
  timeoutSeconds?: number;
  /** What the handler may do in Secrets Manager: read metadata (never values) or start a rotation. */
  secrets?: 'describe' | 'rotate';
}

/** Every route of /v1. */
export const ROUTES: readonly RouteDefinition[] = [
  { method: 'GET', path: '/v1/health', handler: 'health', auth: 'none', table: 'none', body: false },
  { method: 'POST', path: '/v1/threads', handler: 'threads-spawn', auth: 'tenant', table: 'write', body: true },
  { method: 'GET', path: '/v1/threads', handler: 'threads-list', auth: 'tenant', table: 'read', body: false },
  {
    method: 'GET',
    path: '/v1/threads/{sessionKey}',
    handler: 'threads-get',
    auth: 'tenant',
    table: 'read',
    body: false,
  },
  {
    method: 'POST',
    path: '/v1/threads/{sessionKey}/restart',
    handler: 'threads-restart',
    auth: 'tenant',
    table: 'write',
    body: true,
  },
  {
    method: 'DELETE',
    path: '/v1/threads/{sessionKey}',
    handler: 'threads-terminate',
    auth: 'tenant',
    table: 'write',
    body: false,
  },
  {
    method: 'POST',
    path: '/v1/threads/{sessionKey}/turns',
    handler: 'turns-submit',
    auth: 'tenant',
    table: 'write',
    body: true,
    startsTurns: true,
  },
  {
    method: 'GET',
    path: '/v1/threads/{sessionKey}/turns/{turnId}',
    handler: 'turns-get',
    auth: 'tenant',
    table: 'read',
    body: false,
    timeoutSeconds: 29,
  },
  {
    method: 'GET',
    path: '/v1/threads/{sessionKey}/messages',
    handler: 'messages-list',
    auth: 'tenant',
    table: 'read',
    body: false,
  },
  {
    method: 'GET',
    path: '/v1/threads/{sessionKey}/audit',
    handler: 'threads-audit',
    auth: 'tenant',
    table: 'read',
    body: false,
  },
  { method: 'GET', path: '/v1/agents', handler: 'agents-list', auth: 'tenant', table: 'read', body: false },
  {
    method: 'POST',
    path: '/v1/agents/{name}/restart',
    handler: 'agents-restart',
    auth: 'admin',
    table: 'write',
    body: true,
    startsTurns: true,
    timeoutSeconds: 29,
  },
  {
    method: 'GET',
    path: '/v1/secrets',
    handler: 'secrets-list',
    auth: 'admin',
    table: 'read',
    body: false,
    secrets: 'describe',
  },
  {
    method: 'GET',
    path: '/v1/secrets/{name}',
    handler: 'secrets-get',
    auth: 'admin',
    table: 'read',
    body: false,
    secrets: 'describe',
  },
  {
    method: 'POST',
    path: '/v1/secrets/{name}/refresh',
    handler: 'secrets-refresh',
    auth: 'admin',
    table: 'write',
    body: false,
  },
  {
    method: 'POST',
    path: '/v1/secrets/{name}/rotate',
    handler: 'secrets-rotate',
    auth: 'admin',
    table: 'none',
    body: false,
    secrets: 'rotate',
  },
  { method: 'GET', path: '/v1/audit', handler: 'audit-list', auth: 'admin', table: 'read', body: false },
  {
    method: 'GET',
    path: '/v1/audit/verify',
    handler: 'audit-verify',
    auth: 'admin',
    table: 'read',
    body: false,
    timeoutSeconds: 29,
  },
];

/** The API Gateway route key of a route, e.g. "GET /v1/threads/{sessionKey}". */
export function routeKey(route: Pick<RouteDefinition, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/** Timeout of a route's handler unless the route sets timeoutSeconds (CDK and the local gateway alike). */
export const DEFAULT_HANDLER_TIMEOUT_SECONDS = 10;

/** Largest request body accepted (bytes); larger bodies get 413. */
export const MAX_BODY_BYTES = 64 * 1024;
