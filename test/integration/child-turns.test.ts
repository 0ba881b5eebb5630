import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import type { Principal } from '../../lib/auth/api-keys.js';
import { parseConfig } from '../../lib/config/load.js';
import { ThreadService } from '../../lib/threads/service.js';
import { idempotentTurnId, type LeaseGuard, TurnService } from '../../lib/turns/service.js';
import type { WorkflowStarter } from '../../lib/workflows/turn-workflow.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import { testAgent, testConfig } from '../support/local-stack.js';

// Services on DynamoDB Local with a clock the test moves, and a workflow that never runs: a turn
// "crashes" simply by never being finished.
let table: TestTable;
let store: DynamoThreadStore;
let clock = Date.parse('2026-03-01T00:00:00Z');
const now = () => new Date(clock);
const started: string[] = [];
let stepFunctionsDown = false;
const workflow: WorkflowStarter = {
  start: async (name) => {
    if (stepFunctionsDown) throw new Error('ServiceUnavailable');
    started.push(name);
  },
};
const config = parseConfig(
  testConfig({
    agents: {
      lead: testAgent(['offline'], { subAgents: ['helper'], maxChildren: 1, maxSpawnDepth: 1, timeout: '10s' }),
      helper: testAgent(['offline'], { timeout: '10s' }),
    } as never,
  }),
);
const acme: Principal = { tenant: 'acme', admin: false, keyId: 'key_acme' };
let threads: ThreadService;
let turns: TurnService;

beforeAll(async () => {
  table = await createTestTable('children');
  store = new DynamoThreadStore(table.client, table.tableName);
  threads = new ThreadService(config, store, { now });
  turns = new TurnService(config, store, workflow, { now });
});
afterAll(async () => table?.drop());

/** A parent thread whose turn holds the lease (its execution never runs), and its child thread. */
async function parentWithChild(key: string) {
  await threads.spawn(acme, { agent: 'lead', sessionKey: key });
  const { turn } = await turns.submit(acme, key, { input: 'fan out' });
  const parent = (await store.get('acme', key))!;
  const guard: LeaseGuard = {
    tenant: 'acme',
    sessionKey: key,
    turnId: turn.turnId,
    fencingToken: parent.lease!.fencingToken,
  };
  const child = await threads.ensureChild(parent, 'helper', turn.turnId);
  return { guard, child, childTurnId: idempotentTurnId(child.threadId, turn.turnId) };
}
const running = async () => (await store.counters(['helper', 'lead'])).agents;

describe('sub-agent turns in child threads', () => {
  it('a sub-agent that dies mid-task holds its child only until the lease expires; recovery frees the child and the slot', async () => {
    const { guard, child, childTurnId } = await parentWithChild('p1');
    const claim = await turns.claimInline('acme', child.sessionKey, childTurnId, 'task', guard, 10);
    expect('claimed' in claim).toBe(true);
    expect((await running()).helper!.runningTurns).toBe(1);
    // ...and the process dies. Before expiry nothing may take the child; after it, recovery does.
    expect(await turns.recover('acme', child.sessionKey)).toBe('none');
    clock += 36_000;
    expect(await turns.recover('acme', child.sessionKey)).toBe('released');
    expect(await store.getTurn('acme', child.sessionKey, childTurnId)).toMatchObject({
      status: 'failed',
      error: 'the turn did not finish before its lease expired',
    });
    expect((await store.get('acme', child.sessionKey))!.lease).toBeUndefined();
    expect(await turns.recover('acme', 'p1')).toBe('released');
    expect(await running()).toMatchObject({ helper: { runningTurns: 0 }, lead: { runningTurns: 0 } });
    // The child can be terminated and works again: nothing is stuck.
    expect((await threads.terminate(acme, child.sessionKey)).changed).toBe(true);
  });

  it('refuses a second claim of a busy child, and a retried item gets the turn its first attempt finished', async () => {
    const { guard, child, childTurnId } = await parentWithChild('p2');
    const first = await turns.claimInline('acme', child.sessionKey, childTurnId, 'task', guard, 10);
    if (!('claimed' in first)) throw new Error('expected a claim');
    // A direct turn, or a retry of the item while the first attempt runs: the child is busy.
    await expect(turns.submit(acme, child.sessionKey, { input: 'me too' })).rejects.toMatchObject({
      code: 'thread_busy',
    });
    await expect(turns.claimInline('acme', child.sessionKey, childTurnId, 'task', guard, 10)).rejects.toMatchObject({
      code: 'thread_busy',
    });
    expect((await running()).helper!.runningTurns).toBe(1);
    await turns.finish(first.claimed, { status: 'succeeded', reply: 'done', subAgents: [] }, guard);
    const retried = await turns.claimInline('acme', child.sessionKey, childTurnId, 'task', guard, 10);
    expect(retried).toMatchObject({ finished: { status: 'succeeded', reply: 'done' } });
    expect((await running()).helper!.runningTurns).toBe(0);
    await threads.restart(acme, 'p2', { clearMemory: false }); // release the parent, whose execution never ran
  });

  it('a sub-agent whose parent turn lost its lease records no answer, but still releases its child', async () => {
    const { guard, child, childTurnId } = await parentWithChild('p3');
    const claim = await turns.claimInline('acme', child.sessionKey, childTurnId, 'task', guard, 10);
    if (!('claimed' in claim)) throw new Error('expected a claim');
    await threads.restart(acme, 'p3', { clearMemory: false }); // the parent's lease is gone
    expect(await turns.finish(claim.claimed, { status: 'succeeded', reply: 'too late', subAgents: [] }, guard)).toBe(
      'finished',
    );
    expect(await store.getTurn('acme', child.sessionKey, childTurnId)).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('parent turn lost its lease'),
    });
    const messages = await store.messagesAfter('acme', child.sessionKey, 0, 10);
    expect(messages.map((m) => m.role)).toEqual(['user']);
    expect((await store.get('acme', child.sessionKey))!.lease).toBeUndefined();
    expect(await running()).toMatchObject({ helper: { runningTurns: 0 }, lead: { runningTurns: 0 } });
    // A claim for a parent turn that no longer holds its lease is refused outright.
    await expect(
      turns.claimInline('acme', child.sessionKey, 'turn_00000000000000000000000000', 'again', guard, 10),
    ).rejects.toMatchObject({ code: 'stale_turn' });
  });
});

describe('when the workflow cannot be started', () => {
  it('fails that turn and gives its lease and slot back at once', async () => {
    await threads.spawn(acme, { agent: 'helper', sessionKey: 'outage' });
    stepFunctionsDown = true;
    try {
      await expect(turns.submit(acme, 'outage', { input: 'two' })).rejects.toThrow('ServiceUnavailable');
    } finally {
      stepFunctionsDown = false;
    }
    expect((await store.get('acme', 'outage'))!.lease).toBeUndefined();
    const [turn] = (await table.scanAll()).filter(
      (item) => item.kind === 'turn' && String(item.pk).endsWith('#outage'),
    );
    expect(turn).toMatchObject({ status: 'failed', error: expect.stringContaining('could not be started') });
    expect((await running()).helper!.runningTurns).toBe(0);
  });

  it('an idempotent repeat during an outage re-issues the start but never fails the running turn', async () => {
    await threads.spawn(acme, { agent: 'helper', sessionKey: 'repeat-outage' });
    const first = await turns.submit(acme, 'repeat-outage', { input: 'hello', idempotencyKey: 'k-1' });
    expect(first.turn.status).toBe('running');
    stepFunctionsDown = true;
    try {
      await expect(turns.submit(acme, 'repeat-outage', { input: 'hello', idempotencyKey: 'k-1' })).rejects.toThrow(
        'ServiceUnavailable',
      );
    } finally {
      stepFunctionsDown = false;
    }
    expect((await store.get('acme', 'repeat-outage'))!.lease?.turnId).toBe(first.turn.turnId);
    expect(await store.getTurn('acme', 'repeat-outage', first.turn.turnId)).toMatchObject({ status: 'running' });
    const again = await turns.submit(acme, 'repeat-outage', { input: 'hello', idempotencyKey: 'k-1' });
    expect(again).toMatchObject({ created: false, turn: { turnId: first.turn.turnId, status: 'running' } });
    expect(started.filter((name) => name === first.turn.turnId)).toHaveLength(2); // the same name: one execution on AWS
    await threads.restart(acme, 'repeat-outage', { clearMemory: false });
  });

  it('a submit that finds an expired orphan lease (its turn already gone) takes the thread at once', async () => {
    await threads.spawn(acme, { agent: 'helper', sessionKey: 'orphaned' });
    const thread = (await store.get('acme', 'orphaned'))!;
    const lease = {
      turnId: 'turn_00000000000000000000000000',
      fencingToken: 1,
      leaseExpiresAt: new Date(clock - 1000).toISOString(),
    };
    await store.transition(thread, { ...thread, version: thread.version + 1, lease, fencingSeq: 1 }, undefined, [
      { agent: 'helper', runningTurns: 1 },
    ]);
    const started = Date.now();
    const { turn } = await turns.submit(acme, 'orphaned', { input: 'hello' });
    expect(turn.status).toBe('running');
    expect(Date.now() - started).toBeLessThan(2_000); // not after a minute of refused takeovers
    expect((await running()).helper!.runningTurns).toBe(1);
    await threads.restart(acme, 'orphaned', { clearMemory: false });
  });
});
