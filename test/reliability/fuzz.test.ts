/**
 * Reliability suite, bad input: a schema-driven fuzzer over every route of lib/api/routes.ts.
 *
 * - Routes come from ROUTES and each route's body/query/path schemas from its own handler (the
 *   apiHandler seam below), converted with z.toJSONSchema; a route added to the table is fuzzed
 *   with no change here. Generators: ./fuzz-inputs.ts, all drawn from one seeded PRNG
 *   (FUZZ_SEED reproduces a run; the seed is printed first).
 * - ≥ 2 000 requests per run (FUZZ_REQUESTS), sent one at a time over real HTTP to the in-process
 *   local stack, round-robin over the routes, each a random family: valid (real threads, turns,
 *   agents, secrets and cursors harvested from earlier answers, so handlers go deep), broken body
 *   fields, raw bodies (bad JSON, repeated keys, BOM, deep nesting, invalid UTF-8), sizes at and
 *   over the 64 KiB limit, content types, query strings, path segments, auth, another tenant's
 *   threads, wrong methods.
 * - Oracles: never a 5xx; every error is {error: {code, message, details?}} with a 4xx;
 *   validation errors name field paths; where the route table and the schemas alone decide, the
 *   exact status and code the edge must answer (edgeVerdict); another tenant's thread answers
 *   exactly like an absent one; a rejected request writes nothing (below); the table's invariants
 *   hold after every case that wrote, and quiescent ones at the end.
 * - "No write on rejection": every DynamoDB command of the shared documentClient is attributed to
 *   the request whose async context sent it (the case id rides in an x-fuzz-case header and is
 *   bound by the http.server.request.start diagnostics channel). An edge rejection may issue no
 *   write command at all; a domain rejection (404/409/422/429) may issue conditional writes that
 *   DynamoDB refuses — that refusal is how the race-free checks decide (seen: 409 thread_exists, the
 *   spawn transaction's "key not taken" condition) and it writes nothing — none may be accepted.
 *   The run prints every such rejection.
 * - Bounded: at most MAX_TURN_STARTS accepted turn starts (then valid turn routes aim at an absent
 *   thread), valid long polls use wait=0, URLs stay under the gateway's limits (8 000 chars).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomInt } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import http, { type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { matchRoute } from '../../infra/local/api-gateway.js';
import { MAX_BODY_BYTES, ROUTES, type RouteDefinition, routeKey } from '../../lib/api/routes.js';
import { eventually, startTestStack, TEST_KEYS, type TestStack, testAgent } from '../support/local-stack.js';
import {
  boundaryValues,
  brokenBody,
  brokenSegment,
  CONTENT_TYPES,
  encode,
  fillPath,
  GARBAGE_AUTH,
  type GenContext,
  jsonSchemasOf,
  type Pools,
  padTo,
  pathParams,
  queryString,
  Rng,
  type RouteJsonSchemas,
  type RouteSchemas,
  rawBody,
  remember,
  validValue,
} from './fuzz-inputs.js';
import { checkInvariants, expectInvariants } from './invariants.js';

// The seam from a route to its schemas: every authenticated handler hands its zod schemas to
// apiHandler(name, schemas, fn), and `name` is the route table's `handler`. Recording that call
// (and delegating to the real apiHandler) yields the route → schemas map from the handlers
// themselves, so a new route is fuzzed with its real schemas and no second table can drift.
const captured = vi.hoisted(() => new Map<string, unknown>());
vi.mock('../../functions/shared/http/api-handler.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../functions/shared/http/api-handler.js')>();
  const recording: typeof real.apiHandler = (name, schemas, fn) => {
    captured.set(name, schemas);
    return real.apiHandler(name, schemas, fn);
  };
  return { ...real, apiHandler: recording };
});

const SEED = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31));
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2_050);
/** Accepted turn submissions (and other turn starts) per run: each runs a workflow in this process. */
const MAX_TURN_STARTS = 25;
/** Besides after every case that wrote, the invariants are checked this often (background work). */
const INVARIANT_EVERY = 100;

/** Edge error codes: a request refused with one of these never reached domain code. */
const EDGE_CODES = new Set([
  'validation_failed',
  'invalid_json',
  'unsupported_media_type',
  'payload_too_large',
  'unauthorized',
  'forbidden',
  'route_not_found',
]);
/** DynamoDB commands that write (document-client and low-level names alike). */
const WRITE_COMMAND = /^(Put|Update|Delete|BatchWrite|TransactWrite)(Items?)?Command$/;
/** Errors with which DynamoDB refuses a conditional write: nothing was written. */
const REFUSED = new Set(['ConditionalCheckFailedException', 'TransactionCanceledException']);

type Tenant = 'tenant-a' | 'tenant-b' | 'ops';
const KEY_OF: Record<Tenant, string> = {
  'tenant-a': TEST_KEYS.tenantA,
  'tenant-b': TEST_KEYS.tenantB,
  ops: TEST_KEYS.admin,
};

/** One generated request, with what the edge must answer when its schemas decide (`expect`). */
interface FuzzCase {
  id: number;
  route: RouteDefinition;
  family: string;
  method: string;
  /** Raw path with query, exactly as sent on the wire. */
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
  tenant?: Tenant;
  /** The path names a thread of tenant A while the caller is tenant B: it must not even be detectable. */
  foreign?: boolean;
  expect?: { status: number; code: string; part?: 'body' | 'query' | 'path' };
}

interface Outcome {
  status: number;
  text: string;
  json?: any;
}

interface Writes {
  issued: string[];
  accepted: number;
  refused: number;
}

// Write attribution: each HTTP request the API server receives runs in its own async context,
// tagged with the case id from its x-fuzz-case header; DynamoDB commands sent from that context
// (the authorizer and the handler) are counted against that case. Work started elsewhere (the
// workflow's own requests, the recovery timers) has no tag and is not attributed.
const requestCase = new AsyncLocalStorage<number | undefined>();
const writesByCase = new Map<number, Writes>();
const tagRequest = (message: unknown) => {
  const header = (message as { request: IncomingMessage }).request.headers['x-fuzz-case'];
  requestCase.enterWith(typeof header === 'string' ? Number(header) : undefined);
};

let stack: TestStack;
let schemas: Map<string, RouteJsonSchemas>;
let zodSchemas: Map<string, RouteSchemas>;
const pools: Record<Tenant | 'shared', Pools> = {
  'tenant-a': new Map(),
  'tenant-b': new Map(),
  ops: new Map(),
  shared: new Map(),
};

beforeAll(async () => {
  diagnostics.subscribe('http.server.request.start', tagRequest);
  // Offline models only: turns finish in milliseconds. Small limits so 429s are reachable.
  stack = await startTestStack({
    threadManagement: { maxThreads: 60 },
    agents: {
      main: testAgent(['offline'], {
        subAgents: ['data', 'analysis'],
        maxChildren: 2,
        maxSpawnDepth: 1,
        autoDestroy: true,
        maxActiveThreads: 30,
      }),
      trading: { maxActiveThreads: 3 },
    },
  });
  const { documentClient } = await import('../../functions/shared/deps/document-client.js');
  const { config } = await import('../../functions/shared/deps/config.js');
  documentClient.middlewareStack.add(
    (next, context) => async (args) => {
      const caseId = requestCase.getStore();
      if (caseId === undefined || !WRITE_COMMAND.test(context.commandName ?? '')) return next(args);
      const writes = writesByCase.get(caseId) ?? { issued: [], accepted: 0, refused: 0 };
      writesByCase.set(caseId, writes);
      writes.issued.push(context.commandName!);
      try {
        const result = await next(args);
        writes.accepted += 1;
        return result;
      } catch (error) {
        if (REFUSED.has((error as Error).name)) writes.refused += 1;
        else writes.accepted += 1; // unknown outcome: count it as a write, the strict side
        throw error;
      }
    },
    { step: 'initialize', name: 'fuzzWriteCounter' },
  );
  zodSchemas = new Map([...captured].map(([name, value]) => [name, value as RouteSchemas]));
  schemas = new Map([...zodSchemas].map(([name, value]) => [name, jsonSchemasOf(value)]));
  for (const agent of Object.keys(config.agents)) {
    remember(pools.shared, 'agent', agent);
    remember(pools.shared, 'name', agent);
  }
  for (const secret of Object.keys(config.secrets ?? {})) remember(pools.shared, 'name', secret);
  for (const tenant of ['tenant-a', 'tenant-b'] as const) remember(pools.shared, 'tenant', tenant);

  // Real threads and turns of both tenants, so path parameters can name real (and foreign) items.
  for (const [tenant, agent] of [
    ['tenant-a', 'main'],
    ['tenant-a', 'data'],
    ['tenant-b', 'main'],
    ['tenant-b', 'data'],
  ] as const) {
    const spawned = await stack.call('POST', '/v1/threads', { key: KEY_OF[tenant], body: { agent } });
    expect(spawned.status).toBe(201);
    harvest(tenant, spawned.body);
    const turn = await stack.call('POST', `/v1/threads/${spawned.body.sessionKey}/turns`, {
      key: KEY_OF[tenant],
      body: { input: 'hello' },
    });
    expect(turn.status).toBe(202);
    harvest(tenant, turn.body);
    await stack.finalTurn(spawned.body.sessionKey, turn.body.turnId, KEY_OF[tenant]);
  }
  const ended = await stack.call('POST', '/v1/threads', { body: { agent: 'data', sessionKey: 'fuzz-ended' } });
  expect(ended.status).toBe(201);
  expect((await stack.call('DELETE', '/v1/threads/fuzz-ended')).status).toBe(200);
  remember(pools['tenant-a'], 'sessionKey', 'fuzz-ended');
  writesByCase.clear();
});

afterAll(async () => {
  diagnostics.unsubscribe('http.server.request.start', tagRequest);
  await stack?.stop();
});

/** Collects real identifiers from a response (sessionKey, turnId, cursors, names) into the tenant's pools. */
function harvest(tenant: Tenant, value: unknown, depth = 0): void {
  if (!value || typeof value !== 'object' || depth > 4) return;
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (typeof inner === 'string' && ['sessionKey', 'turnId', 'name', 'agent'].includes(key))
      remember(pools[tenant], key, inner);
    else if (typeof inner === 'string' && key === 'nextCursor') remember(pools[tenant], 'cursor', inner);
    else if (typeof inner === 'number' && key === 'nextAfter') remember(pools[tenant], 'after', String(inner));
    else harvest(tenant, inner, depth + 1);
  }
}

/** The pools a caller of `tenant` draws from: the shared ones and that tenant's (or another's). */
function poolsFor(tenant: Tenant): Pools {
  const merged: Pools = new Map(pools.shared);
  for (const [name, values] of pools[tenant]) merged.set(name, [...(merged.get(name) ?? []), ...values]);
  return merged;
}

let turnStarts = 0;

/** Generates one case of a route; `family` picks what is valid and what is broken. */
function generate(id: number, route: RouteDefinition, rng: Rng): FuzzCase {
  const parts = schemas.get(route.handler) ?? {};
  const hasBody = parts.body !== undefined;
  const family = rng.weighted({
    valid: 30,
    'body-schema': hasBody ? 14 : 0,
    'body-raw': hasBody ? 8 : 2,
    'body-size': hasBody ? 5 : 1,
    'content-type': hasBody ? 7 : 1,
    query: parts.query ? 10 : 3,
    path: parts.path ? 12 : 0,
    auth: route.auth === 'none' ? 2 : 9,
    'cross-tenant': parts.path ? 6 : route.auth === 'tenant' ? 2 : 0,
    method: 2,
  });
  const tenant: Tenant =
    route.auth === 'admin'
      ? 'ops'
      : family === 'cross-tenant'
        ? 'tenant-b'
        : rng.pick(['tenant-a', 'tenant-a', 'tenant-b', 'ops'] as const);
  const ctx: GenContext = { rng, pools: poolsFor(family === 'cross-tenant' ? 'tenant-a' : tenant), fixed: { wait: 0 } };
  const headers: Record<string, string> = { 'x-fuzz-case': String(id) };
  if (route.auth !== 'none' || rng.chance(0.3)) headers.authorization = `Bearer ${KEY_OF[tenant]}`;

  // Path parameters: valid (real items preferred), unless this case breaks them.
  const segments = validSegments(route, parts, ctx);
  const names = Object.keys(segments);
  if (family === 'path' && names.length > 0) {
    const name = rng.pick(names);
    segments[name] = brokenSegment(parts.path?.properties?.[name], ctx);
  }
  // Bounded turn starts: once spent, valid turn routes aim at a thread that does not exist.
  if (route.startsTurns && turnStarts >= MAX_TURN_STARTS && 'sessionKey' in segments)
    segments.sessionKey = `fuzz-none-${id}`;
  const foreign = family === 'cross-tenant' && segments.sessionKey !== undefined && isForeign(segments.sessionKey);
  const query = queryString(parts.query, ctx, family === 'query');
  let target = fillPath(route, segments) + (query ? `?${query}` : '');

  let method: string = route.method;
  if (family === 'method') {
    method = rng.pick([
      'PUT',
      'PATCH',
      'OPTIONS',
      route.method === 'GET' ? 'POST' : 'GET',
      route.method === 'DELETE' ? 'POST' : 'DELETE',
    ]);
    if (ROUTES.some((other) => other.method === method && other.path === route.path)) method = 'PATCH';
  }

  let body: Buffer | undefined;
  let label: string = family;
  let contentType: string | null = 'application/json';
  const json = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null');
  if (
    hasBody &&
    (family === 'valid' ||
      family === 'query' ||
      family === 'path' ||
      family === 'auth' ||
      family === 'cross-tenant' ||
      family === 'method')
  ) {
    if (rng.chance(0.9)) body = json(validValue(parts.body!, ctx));
  } else if (family === 'body-schema') {
    body = json(brokenBody(parts.body!, ctx));
  } else if (family === 'body-raw') {
    const raw = rawBody(parts.body, ctx);
    label = `${family}: ${raw.label}`;
    body = typeof raw.body === 'string' ? Buffer.from(raw.body) : raw.body;
  } else if (family === 'body-size') {
    const valid = JSON.stringify(parts.body ? validValue(parts.body, ctx) : {});
    const size = rng.pick([MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 2, 1024 * 1024]);
    body = rng.chance(0.7)
      ? Buffer.from(padTo(valid, size))
      : // Characters under the limit, bytes over it: the limit is on bytes.
        Buffer.from(
          JSON.stringify({
            ...(JSON.parse(valid) as object),
            [Object.keys(parts.body?.properties ?? { x: 0 })[0]!]: 'é'.repeat(Math.ceil(size / 2)),
          }),
        );
  } else if (family === 'content-type') {
    body = json(parts.body ? validValue(parts.body, ctx) : {});
    contentType = rng.pick(CONTENT_TYPES);
  }
  if (body && contentType !== null) headers['content-type'] = contentType;
  if (body && rng.chance(0.05) && family !== 'body-size')
    headers['content-type'] = `${contentType ?? ''}${rng.pick(['; charset=latin1', '; boundary=x', ';'])}`;

  if (family === 'auth') {
    const choice = rng.int(3);
    if (choice === 0) delete headers.authorization;
    else if (choice === 1) headers.authorization = rng.pick(GARBAGE_AUTH);
    else if (route.auth === 'admin')
      headers.authorization = `Bearer ${rng.pick([TEST_KEYS.tenantA, TEST_KEYS.tenantB])}`;
    else
      headers.authorization = `${rng.pick(['bearer', 'BEARER', 'Bearer'])}  ${KEY_OF[tenant]}${rng.pick(['', ' ', '\t'])}`;
  }
  if (target.length > 8000) target = target.slice(0, 8000); // beyond the gateway's URL limits, not the API's
  const fuzzCase: FuzzCase = {
    id,
    route,
    family: label,
    method,
    target,
    headers,
    tenant,
    ...(foreign ? { foreign } : {}),
    ...(body ? { body } : {}),
  };
  const expected = edgeVerdict(fuzzCase);
  return expected ? { ...fuzzCase, expect: expected } : fuzzCase;
}

/** Whether an encoded sessionKey segment names a thread of tenant A only (the cross-tenant cases call as tenant B). */
function isForeign(segment: string): boolean {
  let key: string;
  try {
    key = decodeURIComponent(segment);
  } catch {
    return false;
  }
  return (
    (pools['tenant-a'].get('sessionKey') ?? []).includes(key) &&
    !(pools['tenant-b'].get('sessionKey') ?? []).includes(key)
  );
}

/** Valid path parameters of a route (real items preferred), as encoded segments. */
function validSegments(route: RouteDefinition, parts: RouteJsonSchemas, ctx: GenContext): Record<string, string> {
  const segments: Record<string, string> = {};
  for (const name of pathParams(route))
    segments[name] = encode(String(validValue(parts.path?.properties?.[name] ?? { type: 'string' }, ctx, name)));
  return segments;
}

/**
 * What the edge must answer when the route table and the handler's schemas alone decide: the
 * same route matching as the gateway, then auth, then body (size, content type, JSON, schema),
 * query and path — the order apiHandler checks them in. Undefined when domain code decides.
 */
function edgeVerdict(c: FuzzCase): FuzzCase['expect'] {
  const url = new URL(c.target, 'http://127.0.0.1');
  const match = matchRoute(ROUTES, c.method, url.pathname);
  if (!('route' in match)) return { status: 404, code: 'route_not_found' };
  const route = match.route;
  if (route.auth === 'none') return undefined;
  const auth = c.headers.authorization;
  const key = /^Bearer\s+(\S{1,512})\s*$/i.exec(auth ?? '')?.[1];
  const tenant = (Object.entries(KEY_OF) as [Tenant, string][]).find(([, value]) => value === key)?.[0];
  if (!tenant) return { status: 401, code: 'unauthorized' };
  if (route.auth === 'admin' && tenant !== 'ops') return { status: 403, code: 'forbidden' };
  const parts = zodSchemas.get(route.handler) ?? {};
  if (parts.body) {
    const raw = c.body ?? Buffer.alloc(0);
    if (raw.length > MAX_BODY_BYTES) return { status: 413, code: 'payload_too_large' };
    let value: unknown = {};
    if (raw.length > 0) {
      if (!/^application\/json\s*(;|$)/i.test(c.headers['content-type'] ?? ''))
        return { status: 415, code: 'unsupported_media_type' };
      try {
        value = JSON.parse(raw.toString('utf8'));
      } catch {
        return { status: 400, code: 'invalid_json' };
      }
    }
    if (!parts.body.safeParse(value).success) return { status: 400, code: 'validation_failed', part: 'body' };
  }
  if (parts.query) {
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name]},${value}` : value;
    if (!parts.query.safeParse(query).success) return { status: 400, code: 'validation_failed', part: 'query' };
  }
  if (parts.path && !parts.path.safeParse(match.pathParameters).success)
    return { status: 400, code: 'validation_failed', part: 'path' };
  return undefined;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Sends one case over real HTTP, the raw target and headers exactly as generated. */
function send(c: FuzzCase): Promise<Outcome> {
  const { port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: c.method,
        path: c.target,
        agent,
        headers: { ...c.headers, 'content-length': String(c.body?.length ?? 0) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: response.statusCode ?? 0, text, json });
        });
        response.on('error', reject);
      },
    );
    request.setTimeout(30_000, () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(c.body);
  });
}

/** Every property the contract requires of one response; the problems found, [] when none. */
function judge(c: FuzzCase, outcome: Outcome, writes: Writes | undefined): string[] {
  const problems: string[] = [];
  const { status, json } = outcome;
  if (status >= 500 || status < 200) problems.push(`status ${status}`);
  if (status >= 400 && c.method !== 'HEAD') {
    const error = json?.error;
    const keys = json && typeof json === 'object' ? Object.keys(json) : [];
    const shapeOk =
      keys.length === 1 &&
      error &&
      typeof error === 'object' &&
      typeof error.code === 'string' &&
      typeof error.message === 'string' &&
      Object.keys(error).every((k) => ['code', 'message', 'details'].includes(k));
    if (!shapeOk)
      problems.push(`${status}: error body is not {error: {code, message, details?}}: ${outcome.text.slice(0, 200)}`);
    if (error?.code === 'validation_failed') {
      const issues = error.details?.issues;
      if (
        !Array.isArray(issues) ||
        issues.length === 0 ||
        !issues.every(
          (issue: { path?: unknown }) => typeof issue.path === 'string' && /^(body|query|path)(\.|$)/.test(issue.path),
        )
      ) {
        problems.push(`validation_failed without field paths: ${outcome.text.slice(0, 200)}`);
      }
    }
  }
  if (c.expect) {
    if (status !== c.expect.status || json?.error?.code !== c.expect.code)
      problems.push(`expected ${c.expect.status} ${c.expect.code}, got ${status} ${json?.error?.code ?? ''}`);
    const issues: Array<{ path: string }> = json?.error?.details?.issues ?? [];
    if (c.expect.part && !issues.every((issue) => issue.path.split('.')[0] === c.expect!.part))
      problems.push(`expected issues of the ${c.expect.part}, got ${issues.map((i) => i.path).join(', ')}`);
  }
  if (status >= 400) {
    const code = json?.error?.code;
    // Refused at the edge: no write command at all. Refused by the domain: conditional writes
    // refused by DynamoDB are how the race-free checks decide (they wrote nothing); none may land.
    if (EDGE_CODES.has(code) && writes?.issued.length)
      problems.push(`edge rejection issued writes: ${writes.issued.join(', ')}`);
    if (writes?.accepted) problems.push(`rejection wrote: ${writes.issued.join(', ')} (${writes.accepted} accepted)`);
  }
  return problems;
}

/** How to reproduce one case, for a failure message. */
function describeCase(c: FuzzCase): string {
  const body = c.body
    ? c.body.subarray(0, 160).toString('utf8') + (c.body.length > 160 ? `… (${c.body.length} bytes)` : '')
    : '';
  const { 'x-fuzz-case': _, ...headers } = c.headers;
  return `#${c.id} [${c.family}] ${c.method} ${c.target.slice(0, 200)} ${JSON.stringify(headers)} ${body}`;
}

/**
 * Inputs the fuzzer found mishandled, kept as fixed cases (the fix is named in each). A body of
 * JSON `null` was taken for "no body" (`jsonBody(event) ?? {}` in apiHandler), so on routes whose
 * body fields are all optional it passed as `{}` and the request ran: a thread or an agent was
 * restarted (a write) on a body the schema refuses. Fixed in functions/shared/http/api-handler.ts:
 * only an absent body stands for `{}`.
 */
const REGRESSIONS: Array<{
  name: string;
  method: string;
  path: string;
  body: string;
  contentType?: string;
  expect: NonNullable<FuzzCase['expect']>;
}> = [
  {
    name: 'JSON null body on thread restart (seed 11, #113)',
    method: 'POST',
    path: '/v1/threads/{sessionKey}/restart',
    body: 'null',
    expect: { status: 400, code: 'validation_failed', part: 'body' },
  },
  {
    name: 'JSON null body on agent restart (seed 11, #1092)',
    method: 'POST',
    path: '/v1/agents/{name}/restart',
    body: 'null',
    expect: { status: 400, code: 'validation_failed', part: 'body' },
  },
  {
    name: 'JSON null body, content type with an empty parameter list (seed 11, #1830)',
    method: 'POST',
    path: '/v1/agents/{name}/restart',
    body: 'null',
    contentType: 'application/json;',
    expect: { status: 400, code: 'validation_failed', part: 'body' },
  },
  {
    name: 'JSON null body on spawn',
    method: 'POST',
    path: '/v1/threads',
    body: 'null',
    expect: { status: 400, code: 'validation_failed', part: 'body' },
  },
];

describe('schema-driven fuzzer over every route', () => {
  it('knows the schemas of every route from its handler (no second table)', () => {
    for (const route of ROUTES) {
      if (route.auth === 'none') continue;
      expect(zodSchemas.has(route.handler), `${routeKey(route)}: its handler did not pass schemas to apiHandler`).toBe(
        true,
      );
      if (route.body)
        expect(
          zodSchemas.get(route.handler)?.body,
          `${routeKey(route)} takes a body but has no body schema`,
        ).toBeDefined();
      for (const name of pathParams(route))
        expect(
          schemas.get(route.handler)?.path?.properties?.[name],
          `${routeKey(route)}: no schema for {${name}}`,
        ).toBeDefined();
    }
  });

  it(`sends ≥ 2 000 random and boundary requests: never a 5xx, errors in the contract's shape, no write on rejection, invariants hold`, async () => {
    console.log(`fuzz: seed ${SEED} (FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS} reproduces this run)`);
    const rng = new Rng(SEED);
    const started = Date.now();
    const failures: string[] = [];
    const byRoute = new Map<string, { cases: number; statuses: Map<number, number>; deep: number; ms: number }>();
    let sent = 0;
    let writingCases = 0;
    let foreignCases = 0;
    /** Domain rejections decided by a conditional write DynamoDB refused (the allowed exception). */
    const refusedOnRejection = new Map<string, number>();
    const timing = { generate: 0, send: 0, invariants: 0 };
    for (let id = 1; id <= REQUESTS; id += 1) {
      // Round-robin over the routes so each gets its share, a random family within each.
      const route = ROUTES[(id - 1) % ROUTES.length]!;
      let t0 = performance.now();
      const c = generate(id, route, rng);
      timing.generate += performance.now() - t0;
      t0 = performance.now();
      const outcome = await send(c);
      const elapsed = performance.now() - t0;
      timing.send += elapsed;
      sent += 1;
      const writes = writesByCase.get(id);
      writesByCase.delete(id);
      for (const problem of judge(c, outcome, writes)) failures.push(`${problem}\n    ${describeCase(c)}`);
      const stats = byRoute.get(routeKey(route)) ?? { cases: 0, statuses: new Map(), deep: 0, ms: 0 };
      byRoute.set(routeKey(route), stats);
      stats.cases += 1;
      stats.ms += elapsed;
      stats.statuses.set(outcome.status, (stats.statuses.get(outcome.status) ?? 0) + 1);
      if (outcome.status < 400 || !EDGE_CODES.has(outcome.json?.error?.code)) stats.deep += 1;
      if (c.foreign) {
        // Tenancy: another tenant's thread answers exactly as a thread that does not exist.
        foreignCases += 1;
        const twin: FuzzCase = {
          ...c,
          id: id + 10_000_000,
          target: c.target.replace(/^(\/v1\/threads\/)[^/?]+/, `$1fuzz-absent-${id}`),
          headers: { ...c.headers, 'x-fuzz-case': String(id + 10_000_000) },
        };
        const absent = await send(twin);
        sent += 1;
        writesByCase.delete(twin.id);
        if (absent.status !== outcome.status || absent.json?.error?.code !== outcome.json?.error?.code) {
          failures.push(
            `tenant B told tenant A's thread (${outcome.status} ${outcome.json?.error?.code}) from an absent one (${absent.status} ${absent.json?.error?.code})\n    ${describeCase(c)}`,
          );
        }
      }
      if (outcome.status < 300 && c.tenant) harvest(c.tenant, outcome.json);
      if (outcome.status < 300 && c.route.startsTurns && typeof outcome.json?.turnId === 'string') turnStarts += 1;
      if (outcome.status >= 400 && writes?.refused) {
        const key = `${routeKey(route)} ${outcome.status} ${outcome.json?.error?.code}: ${writes.issued.join('+')}`;
        refusedOnRejection.set(key, (refusedOnRejection.get(key) ?? 0) + 1);
      }
      if (writes?.accepted) writingCases += 1;
      // A case that wrote may have broken the table; one that wrote nothing cannot have (the write
      // counter proves it), so the whole table is checked after every writing case, and every
      // INVARIANT_EVERY cases for what the workflows did meanwhile (turns may be in flight).
      if (writes?.accepted || id % INVARIANT_EVERY === 0) {
        const t1 = performance.now();
        const violations = await checkInvariants(stack.table);
        timing.invariants += performance.now() - t1;
        for (const v of violations)
          failures.push(`invariant ${v.invariant} after case #${id}: ${v.item}: ${v.detail}\n    ${describeCase(c)}`);
      }
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const table = [...byRoute].map(
      ([key, s]) =>
        `  ${key.padEnd(46)} ${String(s.cases).padStart(4)} cases, ${String(s.deep).padStart(4)} past the edge, ${String(Math.round(s.ms / s.cases)).padStart(3)} ms/req, ${[
          ...s.statuses,
        ]
          .sort(([a], [b]) => a - b)
          .map(([status, n]) => `${status}×${n}`)
          .join(' ')}`,
    );
    console.log(
      `fuzz: ${sent} requests in ${seconds} s (seed ${SEED}), ${turnStarts} turn starts, ${writingCases} cases wrote, ${foreignCases} cases named another tenant's thread, timings (ms) ${JSON.stringify(timing, (_, v) => (typeof v === 'number' ? Math.round(v) : v))}\n${table.join('\n')}\nrejections decided by a refused conditional write:\n${[...refusedOnRejection].map(([key, n]) => `  ${key} ×${n}`).join('\n') || '  none'}`,
    );

    expect(sent).toBeGreaterThanOrEqual(Math.min(2_000, REQUESTS));
    expect(failures.slice(0, 25), `${failures.length} problem(s) with seed ${SEED}`).toEqual([]);
    // Spread over every route, and every route's handler was reached past the edge checks.
    for (const route of ROUTES) {
      const stats = byRoute.get(routeKey(route));
      expect(stats?.cases ?? 0, routeKey(route)).toBeGreaterThanOrEqual(Math.floor(REQUESTS / ROUTES.length));
      expect(stats?.deep ?? 0, `${routeKey(route)} never got past the edge`).toBeGreaterThan(0);
    }
    // The oracle is not vacuous: accepted writing requests were seen by the write counter.
    expect(writingCases).toBeGreaterThan(0);
    expect(foreignCases).toBeGreaterThan(0);

    // Quiescent: every turn the fuzzer started has finished and released what it held.
    await eventually(
      async () => Object.values(await stack.agentCounters()).every((counter) => counter.runningTurns === 0),
      30_000,
    );
    await expectInvariants(stack.table, { quiescent: true });
  }, 180_000);

  it('regression: inputs the fuzzer once found mishandled are refused at the edge and write nothing', async () => {
    const sessionKey = pools['tenant-a'].get('sessionKey')!.find((key) => key !== 'fuzz-ended')!;
    const failures: string[] = [];
    let id = 900_000;
    for (const regression of REGRESSIONS) {
      id += 1;
      const route = ROUTES.find(
        (candidate) => candidate.method === regression.method && candidate.path === regression.path,
      )!;
      expect(route, `${regression.method} ${regression.path} is in the route table`).toBeDefined();
      const target = fillPath(route, { sessionKey: encode(sessionKey), name: 'main' });
      const probe: FuzzCase = {
        id,
        route,
        family: `regression: ${regression.name}`,
        method: route.method,
        target,
        headers: {
          'x-fuzz-case': String(id),
          authorization: `Bearer ${route.auth === 'admin' ? TEST_KEYS.admin : TEST_KEYS.tenantA}`,
          'content-type': regression.contentType ?? 'application/json',
        },
        body: Buffer.from(regression.body),
        expect: regression.expect,
      };
      const outcome = await send(probe);
      const writes = writesByCase.get(id);
      writesByCase.delete(id);
      for (const problem of judge(probe, outcome, writes)) failures.push(`${problem}\n    ${describeCase(probe)}`);
    }
    expect(failures).toEqual([]);
  });

  it('boundary sweep: each scalar field of every body and query schema at and over its bounds', async () => {
    // Deterministic boundaries of every scalar field of every body and query schema, one request each.
    const failures: string[] = [];
    let id = 1_000_000;
    for (const route of ROUTES) {
      const parts = schemas.get(route.handler);
      if (!parts) continue;
      for (const part of ['body', 'query'] as const) {
        const schema = parts[part];
        for (const [field, property] of Object.entries(schema?.properties ?? {})) {
          for (const value of boundaryValues(property)) {
            id += 1;
            const segmentsOnly = fillPath(
              route,
              validSegments(route, parts, { rng: new Rng(id), pools: poolsFor('tenant-a') }),
            );
            const headers: Record<string, string> = {
              'x-fuzz-case': String(id),
              authorization: `Bearer ${route.auth === 'admin' ? TEST_KEYS.admin : TEST_KEYS.tenantA}`,
            };
            let target = segmentsOnly;
            let body: Buffer | undefined;
            if (part === 'body') {
              body = Buffer.from(JSON.stringify({ [field]: value }));
              headers['content-type'] = 'application/json';
            } else
              target += `?${encode(field)}=${encode(typeof value === 'object' ? JSON.stringify(value) : String(value))}`;
            if (target.length > 8000) continue; // beyond the gateway's URL limits, not the API's
            if (route.startsTurns) target = target.replace(/\/v1\/threads\/[^/]+/, `/v1/threads/fuzz-none-${id}`);
            const probe: FuzzCase = {
              id,
              route,
              family: `boundary ${part}.${field}`,
              method: route.method,
              target,
              headers,
              tenant: route.auth === 'admin' ? 'ops' : 'tenant-a',
              ...(body ? { body } : {}),
            };
            const expected = edgeVerdict(probe);
            if (expected) probe.expect = expected;
            const outcome = await send(probe);
            const writes = writesByCase.get(id);
            writesByCase.delete(id);
            for (const problem of judge(probe, outcome, writes))
              failures.push(`${problem}\n    ${describeCase(probe)}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    await expectInvariants(stack.table);
  });
});
