import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startDynamoDbLocal } from '../../infra/local/dynamodb-local.js';
import { createDocumentClient } from '../../lib/adapters/dynamodb/client.js';
import { type AcceptedTurn, retryingClient, turnLedger } from '../support/fault-injection.js';
import { testAgent, testConfig } from '../support/local-stack.js';
import { eventuallyEmpty, processGroupMembers, spawnCollected } from '../support/processes.js';
import { expectInvariants, scanTable } from './invariants.js';

// test/e2e/crash.test.ts kills the stack with one stalled thread. This is the storm version: several
// threads with running (stalled and merely slow) and queued turns when the whole stack, DynamoDB
// Local included, is killed with SIGKILL; after a restart every accepted turn ends exactly once.
const KEY = 'crash-storm-key-0000000000000000';
const THREADS = 4;

describe('the local stack killed mid-turn during a storm', () => {
  it('kill -9 with running and queued turns on 4 threads, restart: every turn ends exactly once, invariants hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-crash-storm-'));
    const configPath = join(dir, 'config.json');
    // A 2 s timeout: a lease taken before the kill expires 11 s after its claim (3 × timeout + 5 s).
    const agents = { stormy: testAgent(['test:delay=1500,hang-on=stall'], { timeout: '2s', onBusy: 'enqueue' }) };
    writeFileSync(configPath, JSON.stringify(testConfig({ agents } as never)));
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      PORT: String(port),
      THREADBOUND_DATA_DIR: dataDir,
      THREADBOUND_CONFIG: configPath,
      THREADBOUND_LOCAL_KEYS: `${KEY}:acme`,
    };
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const client = retryingClient(call);
    const start = async () => {
      const server = spawnCollected(
        process.execPath,
        ['--import', 'tsx', '--import', './test/support/register-test-provider.ts', 'infra/local/main.ts'],
        {
          cwd: process.cwd(),
          env,
        },
      );
      await server.waitFor(/threadbound listening on/);
      return server;
    };

    const first = await start();
    const accepted: AcceptedTurn[] = [];
    const keys = Array.from({ length: THREADS }, (_, i) => `storm-${i}`);
    for (const key of keys) expect(await client.spawn('stormy', key)).toBe(true);
    // Even threads: a stalled turn (never answers) with two queued behind it. Odd threads: a slow
    // turn (1.5 s) still running at the kill, with two queued behind it.
    await Promise.all(
      keys.map(async (key, i) => {
        const inputs = [i % 2 === 0 ? `please stall ${key}` : `slow ${key}`, `second ${key}`, `third ${key}`];
        for (const [t, input] of inputs.entries()) {
          const submitted = await client.submit(key, input, `${key}-${t}`);
          expect(submitted).toHaveProperty('turnId');
          accepted.push(submitted as AcceptedTurn);
        }
      }),
    );
    const before = await Promise.all(
      accepted.map(
        async (turn) => (await call('GET', `/v1/threads/${turn.sessionKey}/turns/${turn.turnId}`)).body.status,
      ),
    );
    expect(before.filter((s) => s === 'running')).toHaveLength(THREADS);
    expect(before.filter((s) => s === 'queued')).toHaveLength(2 * THREADS);

    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exit;
    expect(await eventuallyEmpty(() => processGroupMembers(first.child.pid!))).toEqual([]);

    const second = await start();
    let finals: any[];
    try {
      finals = await Promise.all(accepted.map((turn) => client.final(turn.sessionKey, turn.turnId, 60_000)));
      // The turns running at the kill fail (their lease expired); every queued one then runs.
      const byInput = Object.fromEntries(accepted.map((turn, i) => [turn.input, finals[i]]));
      for (const [i, key] of keys.entries()) {
        const first = byInput[i % 2 === 0 ? `please stall ${key}` : `slow ${key}`];
        expect(first).toMatchObject({ status: 'failed', error: 'the turn did not finish before its lease expired' });
        expect(byInput[`second ${key}`]).toMatchObject({ status: 'succeeded' });
        expect(byInput[`third ${key}`]).toMatchObject({ status: 'succeeded' });
      }
      const agents = (await call('GET', '/v1/agents')).body.agents as {
        name: string;
        runningTurns: number;
        activeThreads: number;
      }[];
      expect(agents.find((a) => a.name === 'stormy')).toMatchObject({ runningTurns: 0, activeThreads: THREADS });
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exit).toBe(0);
    }

    // The table as the restarted stack left it, read with the stack down (its DynamoDB Local is gone).
    const dynamo = await startDynamoDbLocal({ dbPath: join(dataDir, 'dynamodb') });
    const documentClient = createDocumentClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const table = { client: documentClient, tableName: 'threadbound' };
      await expectInvariants(table, { quiescent: true });
      const ledger = turnLedger(await scanTable(table), accepted);
      expect(ledger.problems).toEqual([]);
      expect(ledger.turns).toHaveLength(3 * THREADS);
    } finally {
      documentClient.destroy();
      await dynamo.stop();
    }
  }, 120_000);
});
