import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import type { Principal } from '../../lib/auth/api-keys.js';
import { parseConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { sweepIdleThreads } from '../../lib/maintenance/idle-sweep.js';
import type { SweepCursor } from '../../lib/maintenance/ports.js';
import { reconcile } from '../../lib/maintenance/reconcile.js';
import { ThreadService } from '../../lib/threads/service.js';
import { TurnService } from '../../lib/turns/service.js';
import type { TurnRef, WorkflowStarter } from '../../lib/workflows/turn-workflow.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import { testAgent, testConfig } from '../support/local-stack.js';

// Services on DynamoDB Local with a clock the test moves; the workflow never runs, so a turn runs
// until the test finishes it (or forever, like a crashed one).
const workflow: WorkflowStarter = { start: async () => undefined };
let clock = Date.parse('2026-05-01T00:00:00Z');
const now = () => new Date(clock);
const minutes = (n: number) => n * 60_000;
const acme: Principal = { tenant: 'acme', admin: false, keyId: 'key_acme' };
const baseAgents = {
  keeper: testAgent(['offline']),
  burner: testAgent(['offline'], { autoDestroy: true }),
  slowish: testAgent(['offline'], { timeout: '15m' }),
  brief: testAgent(['offline'], { memory: { maxTurns: 2, maxAge: '1h', maxBytes: 100000 } }),
  legacy: testAgent(['offline'], { onBusy: 'enqueue' }),
  'renamed-old': testAgent(['offline']),
};
const configWith = (agents: Record<string, unknown>) =>
  parseConfig(testConfig({ threadManagement: { idleTimeout: '30m' }, agents } as never));
const baseConfig = configWith(baseAgents);

let table: TestTable;
let store: DynamoThreadStore;
const services = (config: Config) => {
  const threads = new ThreadService(config, store, { now });
  const turns = new TurnService(config, store, workflow, { now });
  return { config, store, threads, turns };
};
const counters = async () => {
  const read = await store.counters(Object.keys(baseConfig.agents).concat('fresh'));
  return {
    ...Object.fromEntries(Object.entries(read.agents).map(([name, c]) => [name, c.activeThreads])),
    deployment: read.activeThreads,
  };
};
/** The ref the workflow would carry for the thread's running turn. */
async function runningRef(key: string): Promise<TurnRef> {
  const thread = (await store.get('acme', key))!;
  return {
    tenant: 'acme',
    sessionKey: key,
    turnId: thread.lease!.turnId,
    agent: thread.agent,
    fencingToken: thread.lease!.fencingToken,
    timeoutSeconds: 900,
    maxChildren: 1,
  };
}

beforeAll(async () => {
  table = await createTestTable('maintenance');
  store = new DynamoThreadStore(table.client, table.tableName);
});
afterAll(async () => table?.drop());

describe('idle sweep', () => {
  it('reads only the idle threads, terminates or destroys them, and gives each slot back exactly once', async () => {
    const { threads } = services(baseConfig);
    for (let i = 0; i < 6; i += 1) await threads.spawn(acme, { agent: 'keeper', sessionKey: `old-k${i}` });
    for (let i = 0; i < 4; i += 1) await threads.spawn(acme, { agent: 'burner', sessionKey: `old-b${i}` });
    clock += minutes(40);
    for (let i = 0; i < 20; i += 1) await threads.spawn(acme, { agent: 'keeper', sessionKey: `fresh-${i}` });
    expect(await counters()).toMatchObject({ keeper: 26, burner: 4, deployment: 30 });

    const report = await sweepIdleThreads(services(baseConfig), { now: now() });
    expect(report).toMatchObject({ itemsRead: 10, threadsCleaned: 10, leasesReleased: 0 });
    expect(report.cursor).toBeUndefined();
    expect(await counters()).toMatchObject({ keeper: 20, burner: 0, deployment: 20 });
    const kept = (await store.get('acme', 'old-k0'))!;
    expect(kept).toMatchObject({ status: 'terminated', terminationReason: 'idle for more than 30m' });
    const trail = await store.auditTrail('acme', 'old-k0', kept.threadId);
    expect(trail.at(-1)).toMatchObject({ type: 'thread_cleanup', actor: 'system:idle-sweep' });
    expect(await store.get('acme', 'old-b0')).toBeUndefined(); // autoDestroy

    const again = await sweepIdleThreads(services(baseConfig), { now: now() });
    expect(again).toMatchObject({ itemsRead: 0, threadsCleaned: 0 });
    expect(await counters()).toMatchObject({ keeper: 20, burner: 0, deployment: 20 });
    for (let i = 0; i < 20; i += 1) await threads.terminate(acme, `fresh-${i}`);
  });

  it('never touches a thread whose turn is running; after the turn it is idle again from that moment', async () => {
    const { threads, turns } = services(baseConfig);
    await threads.spawn(acme, { agent: 'slowish', sessionKey: 'busy' });
    await turns.submit(acme, 'busy', { input: 'a long job' });
    clock += minutes(31); // idle timeout passed, lease (3 × 15 m + 5 s) still live
    expect(await sweepIdleThreads(services(baseConfig), { now: now() })).toMatchObject({
      itemsRead: 1,
      threadsCleaned: 0,
      leasesReleased: 0,
    });
    expect((await store.get('acme', 'busy'))!.status).toBe('active');

    await turns.finish(await runningRef('busy'), { status: 'succeeded', reply: 'done', subAgents: [] });
    clock += minutes(29);
    expect(await sweepIdleThreads(services(baseConfig), { now: now() })).toMatchObject({
      itemsRead: 0,
      threadsCleaned: 0,
    });
    clock += minutes(2);
    expect(await sweepIdleThreads(services(baseConfig), { now: now() })).toMatchObject({
      itemsRead: 1,
      threadsCleaned: 1,
    });
    expect((await store.get('acme', 'busy'))!.status).toBe('terminated');
  });

  it('releases the expired lease of a dead turn', async () => {
    const { threads, turns } = services(baseConfig);
    await threads.spawn(acme, { agent: 'keeper', sessionKey: 'dead' });
    const { turn } = await turns.submit(acme, 'dead', { input: 'never finishes' });
    clock += minutes(31);
    expect(await sweepIdleThreads(services(baseConfig), { now: now() })).toMatchObject({ leasesReleased: 1 });
    expect(await store.getTurn('acme', 'dead', turn.turnId)).toMatchObject({ status: 'failed' });
    expect((await store.counters(['keeper'])).agents.keeper!.runningTurns).toBe(0);
    await threads.terminate(acme, 'dead');
  });

  it('is bounded per run and continues where the last run stopped', async () => {
    const { threads } = services(baseConfig);
    for (let i = 0; i < 9; i += 1) await threads.spawn(acme, { agent: 'keeper', sessionKey: `batch-${i}` });
    clock += minutes(31);
    let cursor: SweepCursor | undefined;
    let cleaned = 0;
    let runs = 0;
    do {
      const report = await sweepIdleThreads(services(baseConfig), { now: now(), cursor, maxItems: 4 });
      expect(report.itemsRead).toBeLessThanOrEqual(4);
      cleaned += report.threadsCleaned;
      cursor = report.cursor;
      runs += 1;
    } while (cursor && runs < 20);
    expect(cleaned).toBe(9);
    expect(runs).toBeGreaterThanOrEqual(3);
  });
});

describe('idle sweep, when things go wrong', () => {
  it('goes on past a thread it cannot handle, and reports it', async () => {
    const { threads } = services(baseConfig);
    for (const key of ['ok-1', 'bad', 'ok-2']) await threads.spawn(acme, { agent: 'keeper', sessionKey: key });
    clock += minutes(31);
    const failing = Object.create(store) as DynamoThreadStore;
    failing.get = async (tenant, sessionKey) => {
      if (sessionKey === 'bad') throw new Error('read failed');
      return store.get(tenant, sessionKey);
    };
    const errors: string[] = [];
    const report = await sweepIdleThreads(
      { ...services(baseConfig), threads: new ThreadService(baseConfig, failing, { now }) },
      { now: now(), onError: (_e, key) => errors.push(key) },
    );
    expect(report).toMatchObject({ threadsCleaned: 2, errors: 1 });
    expect(errors).toEqual(['bad']);
    await threads.terminate(acme, 'bad');
  });

  it('starts over a shard whose stored cursor lies beyond the current idle range', async () => {
    const { threads } = services(baseConfig);
    await threads.spawn(acme, { agent: 'keeper', sessionKey: 'far' });
    clock += minutes(31);
    const stale = {
      shard: 0,
      key: { pk: 'x', sk: 'META', gsi2pk: 'ACTIVE#0', gsi2sk: '9999-12-31T00:00:00.000Z#x#y' },
    };
    const report = await sweepIdleThreads(services(baseConfig), { now: now(), cursor: stale });
    expect(report.threadsCleaned).toBe(1);
  });

  it('finishes an auto-destroy that was interrupted', async () => {
    let crashed = false;
    const dying = new Proxy(table.client, {
      get: (target, property) =>
        property === 'send'
          ? async (command: { constructor: { name: string } }) => {
              if (command.constructor.name === 'DeleteCommand' && !crashed) {
                crashed = true;
                throw new Error('process died');
              }
              return target.send(command as never);
            }
          : Reflect.get(target, property),
    });
    const interrupted = new ThreadService(baseConfig, new DynamoThreadStore(dying, table.tableName), { now });
    await interrupted.spawn(acme, { agent: 'burner', sessionKey: 'half-gone' });
    await expect(interrupted.terminate(acme, 'half-gone')).rejects.toThrow('process died');
    expect(await store.get('acme', 'half-gone')).toMatchObject({ status: 'terminated', destroyPending: true });
    clock += minutes(31);
    await sweepIdleThreads(services(baseConfig), { now: now() });
    expect(await store.get('acme', 'half-gone')).toBeUndefined();
  });

  it('ends a child thread whose parent was terminated without it (a terminate that died half-way)', async () => {
    const { threads } = services(baseConfig);
    await threads.spawn(acme, { agent: 'keeper', sessionKey: 'orphan-parent' });
    const parent = (await store.get('acme', 'orphan-parent'))!;
    const child = await threads.ensureChild(parent, 'burner', 'turn_00000000000000000000000000');
    // keeper lists no sub-agents, so this terminate never reaches the child: as if it had died there.
    await threads.terminate(acme, 'orphan-parent');
    expect((await store.get('acme', child.sessionKey))!.status).toBe('active');
    clock += minutes(31);
    await sweepIdleThreads(services(baseConfig), { now: now() });
    expect(await store.get('acme', child.sessionKey)).toBeUndefined(); // burner: autoDestroy
    expect((await store.counters(['burner'])).agents.burner!.activeThreads).toBe(0);
  });

  it('leaves a thread of a removed agent with a queue to be ended, without failing', async () => {
    const { threads, turns } = services(baseConfig);
    await threads.spawn(acme, { agent: 'legacy', sessionKey: 'stranded' });
    await turns.submit(acme, 'stranded', { input: 'running' });
    const queued = await turns.submit(acme, 'stranded', { input: 'waiting' });
    expect(queued.turn.status).toBe('queued');
    clock += minutes(40);
    const { legacy: _gone, ...rest } = baseAgents;
    const without = configWith(rest);
    const first = await sweepIdleThreads(services(without), { now: now() });
    expect(first).toMatchObject({ errors: 0, leasesReleased: 1 });
    clock += minutes(31);
    const second = await sweepIdleThreads(services(without), { now: now() });
    expect(second).toMatchObject({ errors: 0, threadsCleaned: 1 });
    expect(await store.getTurn('acme', 'stranded', queued.turn.turnId)).toMatchObject({
      status: 'failed',
      error: 'the thread was terminated',
    });
  });
});

describe('memory retention', () => {
  it('trims messages beyond maxTurns and older than maxAge as turns finish', async () => {
    const { threads, turns } = services(baseConfig);
    await threads.spawn(acme, { agent: 'brief', sessionKey: 'short-memory' });
    const turn = async (input: string) => {
      await turns.submit(acme, 'short-memory', { input });
      await turns.finish(await runningRef('short-memory'), {
        status: 'succeeded',
        reply: `re: ${input}`,
        subAgents: [],
      });
    };
    for (const input of ['one', 'two', 'three', 'four']) await turn(input);
    const seqs = async () => (await store.messagesAfter('acme', 'short-memory', 0, 100)).map((m) => m.seq);
    expect(await seqs()).toEqual([5, 6, 7, 8]); // maxTurns 2
    const [message] = await store.messagesAfter('acme', 'short-memory', 0, 1);
    expect(message!.expiresAt! * 1000).toBeGreaterThan(clock + minutes(59)); // TTL safety net: maxAge 1h
    clock += minutes(61);
    await turn('five');
    expect(await seqs()).toEqual([9, 10]); // everything else is older than maxAge
    await threads.terminate(acme, 'short-memory');
  });

  it('trims everything that fell out of the window, also when a turn ended without a reply', async () => {
    const { threads, turns } = services(baseConfig);
    await threads.spawn(acme, { agent: 'brief', sessionKey: 'gappy-memory' });
    const turn = async (input: string) => {
      await turns.submit(acme, 'gappy-memory', { input });
      await turns.finish(await runningRef('gappy-memory'), {
        status: 'succeeded',
        reply: `re: ${input}`,
        subAgents: [],
      });
    };
    await turn('one');
    await turn('two');
    // A turn failed by a restart leaves its user message without a reply: the window moves by 3 at the next finish.
    await turns.submit(acme, 'gappy-memory', { input: 'three' });
    await threads.restart(acme, 'gappy-memory', { clearMemory: false });
    await turn('four');
    await turn('five');
    const seqs = (await store.messagesAfter('acme', 'gappy-memory', 0, 100)).map((m) => m.seq);
    expect(seqs).toEqual([6, 7, 8, 9]); // maxTurns 2; seq 1 used to stay until its TTL
    await threads.terminate(acme, 'gappy-memory');
  });
});

describe('startup reconciliation', () => {
  it('repairs corrupted counters exactly and releases orphaned leases', async () => {
    const { threads } = services(baseConfig);
    for (let i = 0; i < 3; i += 1) await threads.spawn(acme, { agent: 'keeper', sessionKey: `rc-${i}` });
    // An orphan: a lease whose turn does not exist (its writer died before recording it).
    const orphan = (await store.get('acme', 'rc-0'))!;
    await store.transition(
      orphan,
      {
        ...orphan,
        version: orphan.version + 1,
        lease: {
          turnId: 'turn_00000000000000000000000000',
          leaseExpiresAt: new Date(clock + minutes(60)).toISOString(),
          fencingToken: 1,
        },
      },
      undefined,
      [{ agent: 'keeper', runningTurns: 1 }],
    );
    // Corruption, on purpose.
    const set = (key: { pk: string; sk: string }, values: Record<string, number>) =>
      table.client.send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: key,
          UpdateExpression: `SET ${Object.keys(values)
            .map((k) => `${k} = :${k}`)
            .join(', ')}`,
          ExpressionAttributeValues: Object.fromEntries(Object.entries(values).map(([k, v]) => [`:${k}`, v])),
        }),
      );
    await set(keys.agentCounters('keeper'), { activeThreads: 99, runningTurns: 7 });
    await set(keys.agentCounters('burner'), { activeThreads: 5 });
    await set(keys.deploymentCounters(), { activeThreads: 1 });

    const report = await reconcile(services(baseConfig));
    expect(report.leasesReleased).toBe(1);
    expect((await store.get('acme', 'rc-0'))!.lease).toBeUndefined();
    expect(report.countersRepaired).toEqual(
      expect.arrayContaining([
        { agent: 'keeper', field: 'activeThreads', from: 99, to: 3 },
        { agent: 'keeper', field: 'runningTurns', from: 6, to: 0 },
        { agent: 'burner', field: 'activeThreads', from: 5, to: 0 },
        { agent: '(deployment)', field: 'activeThreads', from: 1, to: 3 },
      ]),
    );
    expect(await store.counters(['keeper', 'burner'])).toMatchObject({
      activeThreads: 3,
      agents: { keeper: { activeThreads: 3, runningTurns: 0 }, burner: { activeThreads: 0 } },
    });
    // Nothing left to repair the second time.
    expect((await reconcile(services(baseConfig))).countersRepaired).toEqual([]);
  });

  it('does not repair a counter that changed during the recount (left for the next run)', async () => {
    const racing = Object.create(store) as DynamoThreadStore;
    let spawned = false;
    racing.counters = async (agents) => {
      // A spawn lands between the recount and the repair.
      if (!spawned) {
        spawned = true;
        await new ThreadService(baseConfig, store, { now }).spawn(acme, { agent: 'keeper', sessionKey: 'racer' });
      }
      return store.counters(agents);
    };
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.agentCounters('keeper'),
        UpdateExpression: 'SET activeThreads = :n',
        ExpressionAttributeValues: { ':n': 42 },
      }),
    );
    const report = await reconcile({ ...services(baseConfig), store: racing });
    expect(report.countersSkipped).toContain('keeper');
    expect((await store.counters(['keeper'])).agents.keeper!.activeThreads).toBe(43);
    await reconcile(services(baseConfig));
    expect((await store.counters(['keeper'])).agents.keeper!.activeThreads).toBe(4);
  });

  it('applies a config change: threads of a removed agent end with a reason, a renamed agent keeps its threads, the rest is untouched', async () => {
    const { threads, turns } = services(baseConfig);
    for (let i = 0; i < 2; i += 1) await threads.spawn(acme, { agent: 'legacy', sessionKey: `legacy-${i}` });
    await threads.spawn(acme, { agent: 'legacy', sessionKey: 'legacy-busy' });
    await turns.submit(acme, 'legacy-busy', { input: 'still running' });
    await threads.spawn(acme, { agent: 'renamed-old', sessionKey: 'moving' });
    const untouched = (await table.scanAll()).filter((item) => String(item.pk).startsWith('THREAD#acme#rc-'));

    // The next deploy: "legacy" is gone, "renamed-old" is now "fresh".
    const { legacy: _removed, 'renamed-old': _renamed, ...kept } = baseAgents;
    const next = configWith({ ...kept, fresh: testAgent(['offline'], { renamedFrom: ['renamed-old'] }) });
    const report = await reconcile(services(next));
    expect(report).toMatchObject({ threadsTerminated: 2, threadsMoved: 1, deferred: 1 });
    for (const key of ['legacy-0', 'legacy-1']) {
      expect(await store.get('acme', key)).toMatchObject({
        status: 'terminated',
        terminationReason: 'agent "legacy" was removed from the configuration',
      });
    }
    expect((await store.get('acme', 'legacy-busy'))!.status).toBe('active'); // its turn runs on
    expect(await store.get('acme', 'moving')).toMatchObject({ agent: 'fresh', status: 'active' });
    expect((await store.counters(['fresh', 'renamed-old', 'legacy'])).agents).toMatchObject({
      fresh: { activeThreads: 1 },
      'renamed-old': { activeThreads: 0 },
      legacy: { activeThreads: 1 },
    });
    expect((await table.scanAll()).filter((item) => String(item.pk).startsWith('THREAD#acme#rc-'))).toEqual(untouched);
  });
});
