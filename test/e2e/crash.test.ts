import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local.js';
import { testAgent, testConfig } from '../support/local-stack.js';
import { eventuallyEmpty, processGroupMembers, spawnCollected } from '../support/processes.js';

const KEY = 'crash-test-key-000000000000000000';

describe('a crash mid-turn', () => {
  it('leaves no thread stuck: the stale lease expires, its turn fails, the queued turns and the next turn run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-crash-'));
    const configPath = join(dir, 'config.json');
    // A 2 s timeout makes the lease expire 11 s after the turn started (3 × timeout + 5 s).
    writeFileSync(
      configPath,
      JSON.stringify(
        testConfig({
          agents: { crashy: testAgent(['test:hang-on=stall'], { timeout: '2s', onBusy: 'enqueue' }) } as never,
        }),
      ),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      PORT: String(port),
      THREADBOUND_DATA_DIR: join(dir, 'data'),
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
    expect((await call('POST', '/v1/threads', { agent: 'crashy', sessionKey: 'crashy' })).status).toBe(201);
    const stalled = await call('POST', '/v1/threads/crashy/turns', { input: 'please stall' });
    const queued = [
      await call('POST', '/v1/threads/crashy/turns', { input: 'second' }),
      await call('POST', '/v1/threads/crashy/turns', { input: 'third' }),
    ];
    expect([stalled.body.status, ...queued.map((q) => q.body.status)]).toEqual(['running', 'queued', 'queued']);

    // The machine goes away: the server and its DynamoDB Local die at once, nothing is cleaned up.
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exit;
    expect(await eventuallyEmpty(() => processGroupMembers(first.child.pid!))).toEqual([]);

    const second = await start();
    try {
      const turn = async (id: string) => (await call('GET', `/v1/threads/crashy/turns/${id}?wait=20`)).body;
      let statuses: string[] = [];
      for (const deadline = Date.now() + 45_000; Date.now() < deadline; ) {
        statuses = await Promise.all([stalled, ...queued].map(async (t) => (await turn(t.body.turnId)).status));
        if (statuses.every((s) => s !== 'running' && s !== 'queued')) break;
      }
      expect(statuses).toEqual(['failed', 'succeeded', 'succeeded']);
      expect((await turn(stalled.body.turnId)).error).toBe('the turn did not finish before its lease expired');

      const next = await call('POST', '/v1/threads/crashy/turns', { input: 'fourth' });
      expect((await turn(next.body.turnId)).status).toBe('succeeded');
      const history = (await call('GET', '/v1/threads/crashy/messages')).body.messages as {
        seq: number;
        role: string;
        content: string;
      }[];
      expect(history.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(history.map((m) => `${m.role}:${m.role === 'user' ? m.content : ''}`)).toEqual([
        'user:please stall',
        'user:second',
        'assistant:',
        'user:third',
        'assistant:',
        'user:fourth',
        'assistant:',
      ]);
      const agents = (await call('GET', '/v1/agents')).body.agents as { name: string; runningTurns: number }[];
      expect(agents.find((a) => a.name === 'crashy')!.runningTurns).toBe(0);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exit).toBe(0);
    }
  });
});
