import { QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentEvents } from '../../lib/adapters/dynamodb/agent-events.js';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import { AGENT_RESTART_ERROR, type AgentRestartReport, restartAgent } from '../../lib/agents/restart.js';
import { hashApiKey, keyIdOf, type Principal } from '../../lib/auth/api-keys.js';
import { parseConfig } from '../../lib/config/load.js';
import { decodeSweepCursor, encodeSweepCursor } from '../../lib/maintenance/cursor.js';
import { repairCounters } from '../../lib/maintenance/reconcile.js';
import { ThreadService } from '../../lib/threads/service.js';
import { TurnService } from '../../lib/turns/service.js';
import type { WorkflowStarter } from '../../lib/workflows/turn-workflow.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import { startTestStack, TEST_KEYS, type TestStack, testAgent, testConfig } from '../support/local-stack.js';

// POST /v1/agents/{name}/restart. First the domain function on DynamoDB Local with a clock the test
// moves and a workflow that never runs (so a turn runs until its lease expires, like a crashed one);
// then the route over real HTTP on the in-process local stack.

const workflow: WorkflowStarter = { start: async () => undefined };
let clock = Date.parse('2026-06-01T00:00:00Z');
const now = () => new Date(clock);
const seconds = (n: number) => n * 1000;
const acme: Principal = { tenant: 'acme', admin: false, keyId: 'key_acme' };
const globex: Principal = { tenant: 'globex', admin: false, keyId: 'key_globex' };
const operator: Principal = { tenant: 'ops', admin: true, keyId: 'key_operator' };
// worker's lease: 3 × 20 s + 5 s.
const config = parseConfig(
  testConfig({
    agents: { worker: testAgent(['offline'], { onBusy: 'enqueue' }), other: testAgent(['offline']) },
  } as never),
);
const LEASE_MS = seconds(65);

let table: TestTable;
let store: DynamoThreadStore;
let threads: ThreadService;
let turns: TurnService;
let audit: DynamoAgentEvents;
const restart = async (force = false, more: { budgetMs?: number; cursor?: string } = {}) =>
  (await restartAgent({ config, store, turns, audit }, 'worker', {
    principal: operator,
    force,
    now,
    budgetMs: more.budgetMs,
    cursor: more.cursor === undefined ? undefined : decodeSweepCursor(more.cursor),
  }))!;
/** The agent_restart entries of worker's own audit chain (AGENT#worker), oldest first. */
const restartAudit = async () => {
  const page = await table.client.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'AGENT#worker' },
      ConsistentRead: true,
    }),
  );
  return (page.Items ?? [])
    .filter((item) => item.type === 'agent_restart')
    .sort((a, b) => Number(a.seq) - Number(b.seq));
};
const counters = async () => (await store.counters(['worker', 'other'])).agents;
const sum = (reports: AgentRestartReport[], field: 'leasesReleased' | 'turnsFailed' | 'turnsStarted') =>
  reports.reduce((total, r) => total + r[field], 0);

beforeAll(async () => {
  table = await createTestTable('agents-restart');
  store = new DynamoThreadStore(table.client, table.tableName);
  threads = new ThreadService(config, store, { now });
  turns = new TurnService(config, store, workflow, { now });
  audit = new DynamoAgentEvents(table.client, table.tableName);
});
afterAll(async () => table?.drop());

describe('restartAgent', () => {
  it('releases every stale lease of the agent exactly once across tenants, even with two restarts at once, and leaves live turns and other agents alone', async () => {
    const stale: { tenant: string; key: string; turnId: string }[] = [];
    for (const [principal, key] of [
      [acme, 'w-0'],
      [acme, 'w-1'],
      [globex, 'w-2'],
      [acme, 'w-queued'],
    ] as const) {
      await threads.spawn(principal, { agent: 'worker', sessionKey: key });
      const { turn } = await turns.submit(principal, key, { input: 'crashes' });
      stale.push({ tenant: principal.tenant, key, turnId: turn.turnId });
    }
    const queued = await turns.submit(acme, 'w-queued', { input: 'waits behind it' });
    expect(queued.turn.status).toBe('queued');
    await threads.spawn(acme, { agent: 'other', sessionKey: 'o-0' });
    const otherTurn = await turns.submit(acme, 'o-0', { input: 'another agent' });
    clock += LEASE_MS + seconds(1);
    await threads.spawn(acme, { agent: 'worker', sessionKey: 'w-live' });
    const live = await turns.submit(acme, 'w-live', { input: 'still within its lease' });
    expect(await counters()).toMatchObject({
      worker: { activeThreads: 5, runningTurns: 5 },
      other: { runningTurns: 1 },
    });

    const reports = await Promise.all([restart(), restart()]);
    expect(sum(reports, 'leasesReleased')).toBe(4);
    expect(sum(reports, 'turnsFailed')).toBe(4);
    expect(sum(reports, 'turnsStarted')).toBe(1);
    for (const report of reports)
      expect(report).toMatchObject({ agent: 'worker', force: false, threadsSeen: 5, errors: 0, complete: true });
    for (const { tenant, key, turnId } of stale) {
      expect(await store.getTurn(tenant, key, turnId)).toMatchObject({
        status: 'failed',
        error: 'the turn did not finish before its lease expired',
      });
    }
    expect(await store.getTurn('acme', 'w-queued', queued.turn.turnId)).toMatchObject({ status: 'running' });
    expect(await store.getTurn('acme', 'w-live', live.turn.turnId)).toMatchObject({ status: 'running' });
    expect(await store.getTurn('acme', 'o-0', otherTurn.turn.turnId)).toMatchObject({ status: 'running' }); // expired too, but another agent's
    // The started queued turn and the live one hold slots; the four stale ones gave theirs back once.
    expect(await counters()).toMatchObject({
      worker: { activeThreads: 5, runningTurns: 2 },
      other: { runningTurns: 1 },
    });

    const again = await restart();
    expect(again).toMatchObject({ leasesReleased: 0, turnsFailed: 0, turnsStarted: 0, errors: 0, complete: true });
    expect(again.nextCursor).toBeUndefined();
    // Each call is audited in the agent's chain, by the admin key, with what that call itself did.
    const audited = await restartAudit();
    expect(audited).toHaveLength(3);
    expect(audited.map((entry) => entry.data.leasesReleased).sort()).toEqual(
      [0, ...reports.map((r) => r.leasesReleased)].sort(),
    );
    expect(audited[2]).toMatchObject({
      chain: 'agent:worker',
      actor: 'key_operator',
      agent: 'worker',
      data: {
        force: false,
        threadsSeen: 5,
        leasesReleased: 0,
        turnsFailed: 0,
        turnsStarted: 0,
        errors: 0,
        complete: true,
        continued: false,
      },
    });
    expect(await counters()).toMatchObject({ worker: { activeThreads: 5, runningTurns: 2 } });
    for (const key of ['w-0', 'w-1', 'w-queued', 'w-live']) await threads.terminate(acme, key);
    await threads.terminate(globex, 'w-2');
    await threads.terminate(acme, 'o-0');
  });

  it('does not recount counters (an unbounded Scan): a release a drifted counter refuses is an error, fixed once reconciliation repairs the counter', async () => {
    await threads.spawn(acme, { agent: 'worker', sessionKey: 'drift' });
    const { turn } = await turns.submit(acme, 'drift', { input: 'crashes' });
    clock += LEASE_MS + seconds(1);
    // Corruption, on purpose: a counter that says nothing runs (a release's decrement is refused).
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.agentCounters('worker'),
        UpdateExpression: 'SET runningTurns = :zero, activeThreads = :many',
        ExpressionAttributeValues: { ':zero': 0, ':many': 40 },
      }),
    );

    const refused = await restart();
    expect(refused).toMatchObject({ threadsSeen: 1, leasesReleased: 0, turnsFailed: 0, errors: 1, complete: true });
    expect(refused).not.toHaveProperty('countersRepaired');
    expect(await store.getTurn('acme', 'drift', turn.turnId)).toMatchObject({ status: 'running' });
    expect(await counters()).toMatchObject({ worker: { activeThreads: 40, runningTurns: 0 } }); // untouched: no recount in the request

    // Reconciliation's recount (what the startup reconciliation runs), then the restart releases it.
    await repairCounters(
      { config, store },
      { countersRepaired: [], countersSkipped: [], overLimit: [] },
      { only: ['worker'] },
    );
    expect(await restart()).toMatchObject({ leasesReleased: 1, turnsFailed: 1, errors: 0 });
    expect(await store.getTurn('acme', 'drift', turn.turnId)).toMatchObject({ status: 'failed' });
    expect(await counters()).toMatchObject({ worker: { activeThreads: 1, runningTurns: 0 } });
    await threads.terminate(acme, 'drift');
  });

  it('with a budget too small for one call, continues from nextCursor: the calls together release every stale lease exactly once', async () => {
    const stale: { tenant: string; key: string; turnId: string }[] = [];
    for (const [principal, key] of [
      [acme, 'b-0'],
      [globex, 'b-1'],
      [acme, 'b-2'],
      [globex, 'b-3'],
      [acme, 'b-4'],
      [acme, 'b-5'],
    ] as const) {
      await threads.spawn(principal, { agent: 'worker', sessionKey: key });
      const { turn } = await turns.submit(principal, key, { input: 'crashes' });
      stale.push({ tenant: principal.tenant, key, turnId: turn.turnId });
    }
    clock += LEASE_MS + seconds(1);
    const before = (await restartAudit()).length;

    const reports: AgentRestartReport[] = [];
    let cursor: string | undefined;
    do {
      const report = await restart(false, { budgetMs: 0, cursor }); // 0 ms: each call visits one thread, then stops
      reports.push(report);
      expect(report.complete).toBe(report.nextCursor === undefined);
      cursor = report.nextCursor;
      expect(reports.length).toBeLessThan(50);
    } while (cursor);
    expect(reports.length).toBeGreaterThan(1);
    expect(sum(reports, 'leasesReleased')).toBe(6);
    expect(sum(reports, 'turnsFailed')).toBe(6);
    expect(reports.every((r) => r.leasesReleased <= 1 && r.errors === 0 && r.startedAt === reports[0]!.startedAt)).toBe(
      true,
    );
    for (const { tenant, key, turnId } of stale)
      expect(await store.getTurn(tenant, key, turnId)).toMatchObject({ status: 'failed' });
    expect(await counters()).toMatchObject({ worker: { activeThreads: 6, runningTurns: 0 } });
    const audited = (await restartAudit()).slice(before);
    expect(audited).toHaveLength(reports.length);
    expect(audited.slice(1).every((entry) => entry.data.continued === true)).toBe(true);
    for (const { tenant, key } of stale) await threads.terminate({ tenant, admin: false, keyId: 'k' }, key);
  });

  it('TurnService.recoverCounted reports only what its own committed transition did, also when two run at once', async () => {
    await threads.spawn(acme, { agent: 'worker', sessionKey: 'rc' });
    const first = await turns.submit(acme, 'rc', { input: 'crashes' });
    await turns.submit(acme, 'rc', { input: 'queued' });
    clock += LEASE_MS + seconds(1);
    const both = await Promise.all([turns.recoverCounted('acme', 'rc'), turns.recoverCounted('acme', 'rc')]);
    // One takes the expired lease over (failing its turn, starting the queued one); the other finds a live lease.
    expect(
      both.filter((r) => r.leaseReleased && r.turnFailed && r.turnStarted && r.outcome === 'started'),
    ).toHaveLength(1);
    expect(
      both.filter((r) => !r.leaseReleased && !r.turnFailed && !r.turnStarted && r.outcome === 'none' && !r.gaveUp),
    ).toHaveLength(1);
    expect(await store.getTurn('acme', 'rc', first.turn.turnId)).toMatchObject({ status: 'failed' });
    // An orphan lease (its turn already final) is released without failing anything.
    const running = (await store.get('acme', 'rc'))!.lease!.turnId;
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: keys.threadPk('acme', 'rc'), sk: keys.turn(running) },
        UpdateExpression: 'SET #s = :done',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':done': 'succeeded' },
      }),
    );
    expect(await turns.recoverCounted('acme', 'rc')).toEqual({
      outcome: 'released',
      leaseReleased: true,
      turnFailed: false,
      turnStarted: false,
      gaveUp: false,
    });
    await threads.terminate(acme, 'rc');
  });

  it('refuses a cursor it did not make', () => {
    const valid = encodeSweepCursor({
      shard: 3,
      key: { pk: 'THREAD#acme#x', sk: 'META', gsi2pk: 'ACTIVE#3', gsi2sk: '2026-06-01T00:00:00.000Z#acme#x' },
      startedAt: '2026-06-01T00:00:00.000Z',
    });
    expect(decodeSweepCursor(valid)).toMatchObject({ shard: 3, startedAt: '2026-06-01T00:00:00.000Z' });
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const bad of [
      'nope',
      forged({ s: 8 }),
      forged({ s: -1 }),
      forged({ s: 1.5 }),
      forged({ s: 3, k: { pk: 'x' } }),
      forged({ s: 3, k: { pk: 'a', sk: 'b', gsi2pk: 'ACTIVE#4', gsi2sk: 'c' } }),
      forged({ s: 3, k: { pk: 1, sk: 'b', gsi2pk: 'ACTIVE#3', gsi2sk: 'c' } }),
      forged({ s: 0, t: 'yesterday' }),
    ]) {
      expect(decodeSweepCursor(bad)).toBeUndefined();
    }
  });

  it('with force, restarts a turn still within its lease once (audited), and not the queued turn that starts after it', async () => {
    await threads.spawn(acme, { agent: 'worker', sessionKey: 'forced' });
    const running = await turns.submit(acme, 'forced', { input: 'hangs within its lease' });
    const next = await turns.submit(acme, 'forced', { input: 'queued behind it' });
    clock += seconds(5); // well within the 65 s lease
    const before = (await store.get('acme', 'forced'))!;

    const plain = await restart();
    expect(plain).toMatchObject({ leasesReleased: 0, turnsFailed: 0 });
    const reports = await Promise.all([restart(true), restart(true)]);
    expect(sum(reports, 'leasesReleased')).toBe(1);
    expect(sum(reports, 'turnsFailed')).toBe(1);
    expect(sum(reports, 'turnsStarted')).toBe(1);
    expect(await store.getTurn('acme', 'forced', running.turn.turnId)).toMatchObject({
      status: 'failed',
      error: AGENT_RESTART_ERROR,
    });
    expect(await store.getTurn('acme', 'forced', next.turn.turnId)).toMatchObject({ status: 'running' });
    const after = (await store.get('acme', 'forced'))!;
    expect(after).toMatchObject({ generation: before.generation + 1, lease: { turnId: next.turn.turnId } });
    const trail = await store.auditTrail('acme', 'forced', after.threadId);
    const restarts = trail.filter((entry) => entry.type === 'thread_restart');
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({
      actor: 'key_operator',
      data: { releasedTurnId: running.turn.turnId, agentRestart: true },
    });
    expect(await counters()).toMatchObject({ worker: { activeThreads: 1, runningTurns: 1 } });
    expect(
      (await restartAudit())
        .filter((entry) => entry.data.force === true)
        .map((entry) => entry.data.turnsFailed)
        .sort(),
    ).toEqual([0, 1]);
    await threads.terminate(acme, 'forced');
  });

  it('knows no agent the config does not have', async () => {
    expect(await restartAgent({ config, store, turns, audit }, 'nobody', { principal: operator })).toBeUndefined();
  });
});

describe('POST /v1/agents/{name}/restart', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => stack?.stop());

  /** Every item of the stack's table, for "nothing was written" checks. */
  const snapshot = async () => {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await stack.table.client.send(
        new ScanCommand({ TableName: stack.table.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items.map((item) => JSON.stringify(item)).sort();
  };

  it('is admin only, says 404 for an unknown agent and 400 with the field path for a bad body, writing nothing; then releases a crashed turn once', async () => {
    const spawned = await stack.call('POST', '/v1/threads', { body: { agent: 'data', sessionKey: 'crashed' } });
    expect(spawned.status).toBe(201);
    // A turn whose process died: submitted with a workflow that never runs, its lease then expired.
    const stackConfig = parseConfig(testConfig());
    const stackStore = new DynamoThreadStore(stack.table.client, stack.table.tableName);
    const { turn } = await new TurnService(stackConfig, stackStore, workflow).submit(
      { tenant: 'tenant-a', admin: false, keyId: 'k' },
      'crashed',
      { input: 'dies' },
    );
    await stack.table.client.send(
      new UpdateCommand({
        TableName: stack.table.tableName,
        Key: keys.thread('tenant-a', 'crashed'),
        UpdateExpression: 'SET lease.leaseExpiresAt = :past',
        ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() },
      }),
    );
    expect((await stack.agentCounters()).data).toMatchObject({ runningTurns: 1 });

    const before = await snapshot();
    const refused = await Promise.all([
      stack.call('POST', '/v1/agents/data/restart', { body: {} }), // a tenant key
      stack.call('POST', '/v1/agents/nobody/restart', { key: TEST_KEYS.admin, body: {} }),
      stack.call('POST', '/v1/agents/data/restart', { key: TEST_KEYS.admin, body: { force: 'yes' } }),
      stack.call('POST', '/v1/agents/data/restart', { key: TEST_KEYS.admin, body: { forced: true } }),
      stack.call('POST', '/v1/agents/Bad%20Name/restart', { key: TEST_KEYS.admin, body: {} }),
      stack.call('POST', '/v1/agents/data/restart', {
        key: TEST_KEYS.admin,
        body: { cursor: Buffer.from(JSON.stringify({ s: 99 })).toString('base64url') },
      }),
    ]);
    expect(refused.map((r) => [r.status, r.body.error.code])).toEqual([
      [403, 'forbidden'],
      [404, 'agent_not_found'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
      [400, 'validation_failed'],
    ]);
    expect(refused[2]!.body.error.details.issues).toEqual([expect.objectContaining({ path: 'body.force' })]);
    expect(JSON.stringify(refused[3]!.body.error.details.issues)).toContain('forced');
    expect(refused[4]!.body.error.details.issues).toEqual([expect.objectContaining({ path: 'path.name' })]);
    expect(refused[5]!.body.error.details.issues).toEqual([expect.objectContaining({ path: 'body.cursor' })]);
    expect(await snapshot()).toEqual(before);

    const answers = await Promise.all(
      [0, 1].map(() => stack.call('POST', '/v1/agents/data/restart', { key: TEST_KEYS.admin, body: {} })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.reduce((n, a) => n + a.body.leasesReleased, 0)).toBe(1);
    expect(answers.reduce((n, a) => n + a.body.turnsFailed, 0)).toBe(1);
    expect(answers[0]!.body).toMatchObject({ agent: 'data', force: false, complete: true, errors: 0 });
    expect(answers[0]!.body).not.toHaveProperty('nextCursor');
    // Both calls audited in the agent's chain, by the admin key, each with its own counts.
    const audited = (
      await stack.call('GET', '/v1/audit?type=agent_restart&period=1h&limit=50', { key: TEST_KEYS.admin })
    ).body.events as { agent: string; actor: string; data: { leasesReleased: number } }[];
    expect(audited).toHaveLength(2);
    expect(
      audited.every((entry) => entry.agent === 'data' && entry.actor === keyIdOf(hashApiKey(TEST_KEYS.admin))),
    ).toBe(true);
    expect(audited.reduce((n, entry) => n + entry.data.leasesReleased, 0)).toBe(1);
    const failed = await stack.call('GET', `/v1/threads/crashed/turns/${turn.turnId}`);
    expect(failed.body).toMatchObject({ status: 'failed', error: 'the turn did not finish before its lease expired' });
    expect((await stack.agentCounters()).data).toMatchObject({ activeThreads: 1, runningTurns: 0 });
    // The thread takes turns again.
    const next = await stack.call('POST', '/v1/threads/crashed/turns', { body: { input: 'hello again' } });
    expect((await stack.finalTurn('crashed', next.body.turnId)).status).toBe('succeeded');
  });
});
