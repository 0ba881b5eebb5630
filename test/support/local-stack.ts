import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalStack, startLocalStack } from '../../infra/local/stack.js';
import type { Config } from '../../lib/config/schema.js';
import { createTestTable, type TestTable } from './dynamo.js';

/** The API keys every test stack has. */
export const TEST_KEYS = {
  tenantA: 'test-key-tenant-a-0000000000000000',
  tenantB: 'test-key-tenant-b-0000000000000000',
  admin: 'test-key-admin-ops-0000000000000000',
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** The shipped config with overrides merged in (objects merge, everything else replaces). */
export function testConfig(overrides: DeepPartial<Config> = {}): Record<string, unknown> {
  const base = JSON.parse(readFileSync('threadbound.config.json', 'utf8')) as Record<string, unknown>;
  const merge = (a: unknown, b: unknown): unknown => {
    if (b === undefined) return a;
    if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
      return out;
    }
    return b;
  };
  return merge(base, overrides) as Record<string, unknown>;
}

/** A local stack on its own table of the shared DynamoDB Local, with a client for its API. */
export interface TestStack extends LocalStack {
  table: TestTable;
  /** Calls the API as a client would, over real HTTP. */
  call(
    method: string,
    path: string,
    options?: { key?: string | null; body?: unknown; rawBody?: string | Buffer; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: any }>;
  /** Long-polls a turn until it is final and returns its view. */
  finalTurn(sessionKey: string, turnId: string, key?: string): Promise<any>;
  /** activeThreads and runningTurns of every agent, from GET /v1/agents. */
  agentCounters(): Promise<Record<string, { activeThreads: number; runningTurns: number }>>;
}

/** An agent definition for test configs: the given models and limits, small sane defaults for the rest. */
export function testAgent(models: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    models,
    maxActiveThreads: 100,
    maxConcurrentTurns: 50,
    timeout: '20s',
    memory: { maxTurns: 20, maxAge: '24h', maxBytes: 100000 },
    ...extra,
  };
}

/** Starts the local stack in this process (one per test file: handlers read the config at import). */
export async function startTestStack(
  overrides: DeepPartial<Config> = {},
  options: { recoveryIntervalMs?: number } = {},
): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'threadbound-test-'));
  const configPath = join(dir, 'threadbound.config.json');
  writeFileSync(configPath, JSON.stringify(testConfig(overrides)));
  const table = await createTestTable('stack');
  const stack = await startLocalStack({
    port: 0,
    dataDir: dir,
    configPath,
    tableName: table.tableName,
    dynamoEndpoint: table.endpoint,
    localKeys: `${TEST_KEYS.tenantA}:tenant-a,${TEST_KEYS.tenantB}:tenant-b,${TEST_KEYS.admin}:ops:admin`,
    ...(options.recoveryIntervalMs ? { recoveryIntervalMs: options.recoveryIntervalMs } : {}),
  });
  const call: TestStack['call'] = async (method, path, options = {}) => {
    const key = options.key === undefined ? TEST_KEYS.tenantA : options.key;
    const headers: Record<string, string> = { ...(key ? { authorization: `Bearer ${key}` } : {}) };
    let body: string | Buffer | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const response = await fetch(`${stack.url}${path}`, { method, headers: { ...headers, ...options.headers }, body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  return {
    ...stack,
    table,
    call,
    async stop() {
      await stack.stop();
      await table.drop();
    },
    async finalTurn(sessionKey, turnId, key) {
      for (let i = 0; i < 10; i += 1) {
        const { body } = await call(
          'GET',
          `/v1/threads/${sessionKey}/turns/${turnId}?wait=20`,
          key === undefined ? {} : { key },
        );
        if (['succeeded', 'failed', 'timed_out'].includes(body.status)) return body;
      }
      throw new Error(`turn ${turnId} did not finish`);
    },
    async agentCounters() {
      const { body } = await call('GET', '/v1/agents');
      return Object.fromEntries(
        body.agents.map((a: { name: string; activeThreads: number; runningTurns: number }) => [
          a.name,
          { activeThreads: a.activeThreads, runningTurns: a.runningTurns },
        ]),
      );
    },
  };
}

/** Polls `probe` until it returns true (or fails after `timeoutMs`). */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
