import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local.js';
import { ROUTES } from '../../lib/api/routes.js';
import { testAgent, testConfig } from '../support/local-stack.js';
import { type Spawned, spawnCollected } from '../support/processes.js';

// Issue 8: "Every log line of an e2e run parses as JSON and carries the correlation fields where they
// apply." The local stack runs in its own process at DEBUG, as `npm start` does; a client spawns two
// threads, runs a fan-out turn on one while reading the other concurrently, and terminates the
// first. Then every line the process printed is checked (docs/operations.md, "Logs").

const KEY = 'logs-e2e-key-0000000000000000000000';
const A = 'logs-a';
const B = 'logs-b';
const CONCURRENT_READS = 6;

let stack: Spawned | undefined;
let dir: string | undefined;
afterAll(async () => {
  if (stack && stack.child.exitCode === null) stack.child.kill('SIGTERM');
  await stack?.exit;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Line = Record<string, any>;

/** The banner `infra/local/main.ts` prints for humans once ready: from its title line to "listening on". */
function withoutBanner(lines: string[]): string[] {
  const start = lines.findIndex((line) => line.startsWith('threadbound local stack ('));
  const end = lines.findIndex((line) => line.startsWith('threadbound listening on '));
  expect(start, 'the banner starts').toBeGreaterThanOrEqual(0);
  expect(end, 'the banner ends after it starts').toBeGreaterThan(start);
  // The banner opens with one empty line.
  const from = lines[start - 1] === '' ? start - 1 : start;
  return [...lines.slice(0, from), ...lines.slice(end + 1)];
}

describe('the logs of a local run', () => {
  it("are JSON, line by line, and every line of a thread's request or of a turn phase carries its tenant, thread, turn and agent", async () => {
    dir = mkdtempSync(join(tmpdir(), 'tb-logs-e2e-'));
    const configPath = join(dir, 'threadbound.config.json');
    writeFileSync(
      configPath,
      JSON.stringify(
        testConfig({
          agents: {
            main: testAgent(['offline'], { subAgents: ['data', 'analysis', 'trading'], maxChildren: 3 }),
          } as never,
        }),
      ),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      THREADBOUND_DATA_DIR: join(dir, 'data'),
      THREADBOUND_CONFIG: configPath,
      THREADBOUND_LOCAL_KEYS: `${KEY}:acme`,
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
      THREADBOUND_LOG_FORMAT: 'json',
      POWERTOOLS_METRICS_DISABLED: 'false',
    };
    for (const name of Object.keys(env))
      if (name.startsWith('AWS_ENDPOINT_URL') || name === 'AWS_LAMBDA_MAX_CONCURRENCY') delete env[name];
    stack = spawnCollected(process.execPath, ['--import', 'tsx', 'infra/local/main.ts'], { cwd: process.cwd(), env });
    await stack.waitFor(/threadbound listening on/);

    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    expect((await call('POST', '/v1/threads', { agent: 'main', sessionKey: A })).status).toBe(201);
    expect((await call('POST', '/v1/threads', { agent: 'main', sessionKey: B })).status).toBe(201);
    const submitted = await call('POST', `/v1/threads/${A}/turns`, { input: 'analyse the BTC price trend' });
    expect(submitted.status).toBe(202);
    const turnId = submitted.body.turnId as string;
    // While the turn fans out: other requests interleave with its phases in the same process.
    const reads = await Promise.all(
      Array.from({ length: CONCURRENT_READS }, (_, i) => call('GET', i % 2 === 0 ? `/v1/threads/${B}` : '/v1/threads')),
    );
    expect(reads.map((read) => read.status)).toEqual(Array(CONCURRENT_READS).fill(200));
    let turn: any;
    for (let attempt = 0; attempt < 5 && !['succeeded', 'failed', 'timed_out'].includes(turn?.status); attempt += 1)
      turn = (await call('GET', `/v1/threads/${A}/turns/${turnId}?wait=20`)).body;
    expect(turn.status).toBe('succeeded');
    expect(turn.subAgents.map((s: { agent: string }) => s.agent).sort()).toEqual(['analysis', 'data']);
    expect((await call('GET', '/v1/threads/no-such-thread')).status).toBe(404);
    expect((await call('DELETE', `/v1/threads/${A}`)).status).toBe(200);
    stack.child.kill('SIGTERM');
    expect(await stack.exit).toBe(0);

    // 1. Every line but the banner is one JSON object.
    const lines = withoutBanner(stack.output().split('\n')).filter(
      (line, i, all) => line !== '' || i !== all.length - 1,
    );
    const parsed: Line[] = lines.map((line) => {
      let value: unknown;
      expect(() => (value = JSON.parse(line)), `not JSON: ${line}`).not.toThrow();
      expect(value, line).toBeTypeOf('object');
      return value as Line;
    });
    const logs = parsed.filter((line) => typeof line.level === 'string');
    const emf = parsed.filter((line) => line._aws);
    expect(logs.length + emf.length).toBe(parsed.length);

    // 2. The correlation fields, by the function that printed the line (function_name: the Lambda context).
    const threadRoutes = new Map(
      ROUTES.filter((route) => route.path.includes('{sessionKey}')).map((route) => [
        `threadbound-${route.handler}`,
        route.path.includes('{turnId}'),
      ]),
    );
    const phaseFunctions = (name: string) =>
      name.startsWith('threadbound-agent-') || name === 'threadbound-turn-control';
    const inRequest = logs.filter((line) => threadRoutes.has(line.function_name));
    const inPhase = logs.filter((line) => phaseFunctions(line.function_name ?? ''));
    expect(inRequest.length).toBeGreaterThanOrEqual(6);
    for (const line of inRequest) {
      expect(line, JSON.stringify(line)).toMatchObject({ tenant: 'acme', sessionKey: expect.any(String) });
      if (threadRoutes.get(line.function_name)) expect(line.turnId, JSON.stringify(line)).toBeTypeOf('string');
    }
    for (const line of inPhase)
      expect(line, JSON.stringify(line)).toMatchObject({
        tenant: 'acme',
        sessionKey: A,
        turnId,
        agent: expect.any(String),
      });
    expect(
      inPhase
        .filter((line) => line.message === 'agent phase finished')
        .map((line) => `${line.phase}:${line.agent}`)
        .sort(),
    ).toEqual(['coalesce:trading', 'main:main', 'sub:analysis', 'sub:data']);
    expect(
      inPhase
        .filter((line) => line.phase === 'sub')
        .map((line) => line.childSessionKey)
        .sort(),
    ).toEqual([`${A}:analysis`, `${A}:data`]);
    expect(inPhase.find((line) => line.message === 'turn finished')).toMatchObject({
      agent: 'main',
      status: 'succeeded',
      result: 'finished',
    });

    // 3. No line carries another invocation's keys: one thread per invocation, none where no thread applies.
    const sessionKeysByInvocation = new Map<string, Set<unknown>>();
    for (const line of logs.filter((candidate) => candidate.function_request_id)) {
      const keys = sessionKeysByInvocation.get(line.function_request_id) ?? new Set();
      sessionKeysByInvocation.set(line.function_request_id, keys.add(line.sessionKey));
    }
    for (const [id, keys] of sessionKeysByInvocation) expect([...keys], id).toHaveLength(1);
    // Lines printed outside any invocation (the stack's own) carry no invocation's keys.
    for (const line of logs.filter((candidate) => !candidate.function_name)) {
      expect(line.sessionKey, JSON.stringify(line)).toBeUndefined();
      expect(line.tenant, JSON.stringify(line)).toBeUndefined();
    }
    for (const line of logs.filter((line) => line.function_name === 'threadbound-threads-list'))
      expect(line.sessionKey, JSON.stringify(line)).toBeUndefined();
    const requests = logs.filter((line) => line.message === 'request');
    expect(
      requests.filter((line) => line.route === 'GET /v1/threads/{sessionKey}' && line.sessionKey === B),
    ).toHaveLength(CONCURRENT_READS / 2);
    expect(requests.find((line) => line.sessionKey === 'no-such-thread')).toMatchObject({
      tenant: 'acme',
      status: 404,
    });
    expect(requests.filter((line) => line.sessionKey === A).map((line) => line.route)).toEqual(
      expect.arrayContaining([
        'POST /v1/threads',
        'POST /v1/threads/{sessionKey}/turns',
        'GET /v1/threads/{sessionKey}/turns/{turnId}',
        'DELETE /v1/threads/{sessionKey}',
      ]),
    );

    // 4. EMF lines are CloudWatch metrics of the namespace, and the turn's are there.
    for (const line of emf) expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('threadbound');
    const turnsSucceeded = emf
      .filter((line) => line.TurnsSucceeded !== undefined)
      .map((line) => line.agent)
      .sort();
    expect(turnsSucceeded).toEqual(['analysis', 'data', 'main']);
    expect(emf.find((line) => line.TurnDuration !== undefined && line.agent === 'main')?.TurnDuration).toBeGreaterThan(
      0,
    );
  }, 150_000);
});
