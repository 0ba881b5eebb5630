import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { TEST_KEYS, testAgent } from '../support/local-stack.js';
import { scanTable } from './invariants.js';
import {
  allMessages,
  type ReliabilityStack,
  sampler,
  settleAndCheck,
  startReliabilityStack,
  statusCounts,
  storm,
  within,
} from './support.js';

// Storms over real HTTP against the in-process local stack: concurrent requests at the limits,
// each case bounded (≤ ~60 requests, ≤ 20 s of storm) and followed by the whole-table invariant
// check once every execution has ended. One stack for the file: handlers read the config at import.
let stack: ReliabilityStack;
const history = { memory: { maxTurns: 100, maxAge: '24h', maxBytes: 1_000_000 } };

beforeAll(async () => {
  stack = await startReliabilityStack({
    threadManagement: { maxThreads: 20 },
    agents: {
      spawner: testAgent(['test:delay=5'], { maxActiveThreads: 6 }),
      recycler: testAgent(['test:delay=5'], { maxActiveThreads: 4, autoDestroy: true }),
      wide: testAgent(['test:delay=5']),
      rejecter: testAgent(['test:delay=300'], { onBusy: 'reject', ...history }),
      // A memory window (8 turns) smaller than the storm: retention trims while the queue runs.
      queuer: testAgent(['test:delay=15'], {
        onBusy: 'enqueue',
        memory: { maxTurns: 8, maxAge: '24h', maxBytes: 100000 },
      }),
      // Inputs containing "hang" run until the 6 s timeout: still running whenever the storm hits,
      // however slow the machine; every other input is answered after 200 ms.
      slow: testAgent(['test:delay=200,hang-on=hang'], { timeout: '6s' }),
      slowdestroy: testAgent(['test:delay=200,hang-on=hang'], { timeout: '6s', autoDestroy: true }),
      slowq: testAgent(['test:delay=200,hang-on=hang'], { timeout: '6s', onBusy: 'enqueue' }),
      capped: testAgent(['test:delay=1500'], { maxConcurrentTurns: 3, maxActiveThreads: 12 }),
    } as never,
  });
});
afterAll(async () => stack?.stop());

type Owner = { sessionKey: string; key: string };
type Response = Awaited<ReturnType<ReliabilityStack['call']>>;
const tenantKeys = [TEST_KEYS.tenantA, TEST_KEYS.tenantB];

const spawn = (agent: string, key: string, sessionKey?: string) =>
  stack.call('POST', '/v1/threads', { key, body: { agent, ...(sessionKey ? { sessionKey } : {}) } });
const terminate = (owner: Owner) => stack.call('DELETE', `/v1/threads/${owner.sessionKey}`, { key: owner.key });
const submit = (sessionKey: string, input: string, idempotencyKey?: string) =>
  stack.call('POST', `/v1/threads/${sessionKey}/turns`, {
    body: { input, ...(idempotencyKey ? { idempotencyKey } : {}) },
  });

/** Every refusal of a full limit says when to retry and which limit it was. */
function expectLimitRefusals(responses: Response[], code: string, limit: string, retryAfter: string) {
  for (const r of responses.filter((r) => r.status === 429)) {
    expect(r.body.error).toMatchObject({ code, details: { limit } });
    expect(r.headers.get('retry-after')).toBe(retryAfter);
  }
}

async function agentUse(agent: string): Promise<{ activeThreads: number; runningTurns: number; deployment: number }> {
  const { body } = await stack.call('GET', '/v1/agents');
  const found = body.agents.find((a: { name: string }) => a.name === agent);
  return {
    activeThreads: found.activeThreads,
    runningTurns: found.runningTurns,
    deployment: body.deployment.activeThreads,
  };
}

/** Stored items of a kind, of the threads whose sessionKey is given (tenant A). */
async function stored(kind: string, sessionKey: string): Promise<Record<string, unknown>[]> {
  return (await scanTable(stack.table)).filter(
    (item) => item.kind === kind && item.pk === keys.threadPk('tenant-a', sessionKey),
  );
}

describe('storm: concurrent spawns at the limits', () => {
  it('20 spawns at once from two tenants for 6 slots → exactly 6 × 201, 14 × 429; then terminates racing 14 more spawns', async () => {
    const first = await within(
      20_000,
      'spawn storm',
      storm(20, (i) => spawn('spawner', tenantKeys[i % 2]!)),
    );
    expect(statusCounts(first)).toEqual({ 201: 6, 429: 14 });
    expectLimitRefusals(first, 'limit_reached', 'maxActiveThreads', '30');
    expect(await agentUse('spawner')).toMatchObject({ activeThreads: 6, deployment: 6 });
    await settleAndCheck(stack);

    // The 6 live threads terminated while 14 new spawns race for the slots they free.
    const live: Owner[] = first
      .map((r, i) => ({ r, key: tenantKeys[i % 2]! }))
      .filter(({ r }) => r.status === 201)
      .map(({ r, key }) => ({ sessionKey: r.body.sessionKey, key }));
    const racing = await within(
      20_000,
      'terminate/spawn storm',
      storm(20, (i) => (i < 6 ? terminate(live[i]!) : spawn('spawner', tenantKeys[i % 2]!))),
    );
    const terminations = racing.slice(0, 6);
    const spawns = racing.slice(6);
    expect(terminations.map((r) => [r.status, r.body.alreadyTerminated])).toEqual(Array(6).fill([200, false]));
    const admitted = spawns.filter((r) => r.status === 201).length;
    expect(admitted + spawns.filter((r) => r.status === 429).length).toBe(14);
    expect(admitted).toBeLessThanOrEqual(6);
    expectLimitRefusals(spawns, 'limit_reached', 'maxActiveThreads', '30');
    // Every slot taken is counted once and every slot given back is given back once.
    expect(await agentUse('spawner')).toMatchObject({ activeThreads: admitted, deployment: admitted });
    await settleAndCheck(stack);

    const survivors = spawns.map((r, i) => ({ r, key: tenantKeys[(i + 6) % 2]! })).filter(({ r }) => r.status === 201);
    await storm(survivors.length, (i) =>
      terminate({ sessionKey: survivors[i]!.r.body.sessionKey, key: survivors[i]!.key }),
    );
    expect(await agentUse('spawner')).toMatchObject({ activeThreads: 0, deployment: 0 });
  });

  it('28 spawns at once for the deployment limit (maxThreads 20) → exactly 20 × 201, 8 × 429 maxThreads', async () => {
    const results = await within(
      20_000,
      'spawn storm',
      storm(28, (i) => spawn('wide', tenantKeys[i % 2]!)),
    );
    expect(statusCounts(results)).toEqual({ 201: 20, 429: 8 });
    expectLimitRefusals(results, 'limit_reached', 'maxThreads', '30');
    expect(await agentUse('wide')).toMatchObject({ activeThreads: 20, deployment: 20 });
    await settleAndCheck(stack);
    const created = results.map((r, i) => ({ r, key: tenantKeys[i % 2]! })).filter(({ r }) => r.status === 201);
    const ended = await storm(created.length, (i) =>
      terminate({ sessionKey: created[i]!.r.body.sessionKey, key: created[i]!.key }),
    );
    expect(ended.every((r) => r.status === 200 && r.body.alreadyTerminated === false)).toBe(true);
    expect(await agentUse('wide')).toMatchObject({ activeThreads: 0, deployment: 0 });
    await settleAndCheck(stack);
  });

  it('auto-destroy: terminates and respawns of the same keys race (plus new keys) without losing or doubling a slot', async () => {
    const owners: Owner[] = ['r-0', 'r-1', 'r-2', 'r-3'].map((sessionKey) => ({ sessionKey, key: TEST_KEYS.tenantA }));
    for (const owner of owners) expect((await spawn('recycler', owner.key, owner.sessionKey)).status).toBe(201);
    // Per key: two terminates and two respawns of the same key; then four spawns of new keys.
    const plan = [
      ...owners.flatMap((o) => [
        () => terminate(o),
        () => spawn('recycler', o.key, o.sessionKey),
        () => terminate(o),
        () => spawn('recycler', o.key, o.sessionKey),
      ]),
      ...[0, 1, 2, 3].map((i) => () => spawn('recycler', TEST_KEYS.tenantA, `r-new-${i}`)),
    ];
    const results = await within(
      20_000,
      'terminate/respawn storm',
      storm(plan.length, (i) => plan[i]!()),
    );
    const terminations = results.filter((_, i) => i < 16 && i % 2 === 0);
    const spawns = results.filter((_, i) => i >= 16 || i % 2 === 1);
    for (const r of terminations) expect([200, 404]).toContain(r.status);
    for (const r of spawns) expect([201, 409, 429]).toContain(r.status);
    for (const r of spawns.filter((r) => r.status === 409)) expect(r.body.error.code).toBe('thread_exists');
    expectLimitRefusals(spawns, 'limit_reached', 'maxActiveThreads', '30');
    const given = terminations.filter((r) => r.status === 200 && r.body.alreadyTerminated === false).length;
    const taken = spawns.filter((r) => r.status === 201).length;
    // Conservation: live threads = 4 spawned before + slots taken − slots given back, never above 4.
    const use = await agentUse('recycler');
    expect(use.activeThreads).toBe(4 + taken - given);
    expect(use.activeThreads).toBeLessThanOrEqual(4);
    // The original four were each ended exactly once.
    expect(given).toBeGreaterThanOrEqual(4);
    await settleAndCheck(stack);

    const { body } = await stack.call('GET', '/v1/threads?agent=recycler&limit=50');
    const live = body.threads.filter((t: { status: string }) => t.status !== 'terminated');
    await storm(live.length, (i) => terminate({ sessionKey: live[i].sessionKey, key: TEST_KEYS.tenantA }));
    expect((await agentUse('recycler')).activeThreads).toBe(0);
    await settleAndCheck(stack);
  });
});

describe('storm: concurrent turns on one thread', () => {
  it('onBusy reject: 3 waves of 15 submissions → one turn at a time, the others 409, one reply per accepted turn', async () => {
    expect((await spawn('rejecter', TEST_KEYS.tenantA, 'busy-reject')).status).toBe(201);
    const accepted: string[] = [];
    const sampled = sampler(() => agentUse('rejecter'), 50);
    for (let wave = 0; wave < 3; wave += 1) {
      const results = await within(
        20_000,
        `wave ${wave}`,
        storm(15, (i) => submit('busy-reject', `wave ${wave} message ${i}`)),
      );
      const ok = results.filter((r) => r.status === 202);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(ok.length + results.filter((r) => r.status === 409).length).toBe(15);
      for (const r of results.filter((r) => r.status === 409))
        expect(r.body.error).toMatchObject({
          code: 'thread_busy',
          details: { runningTurnId: expect.stringMatching(/^turn_/) },
        });
      accepted.push(...ok.map((r) => r.body.turnId));
      await Promise.all(ok.map((r) => stack.finalTurn('busy-reject', r.body.turnId)));
    }
    expect(Math.max(...(await sampled.stop()).map((s) => s.runningTurns))).toBeLessThanOrEqual(1);
    const turns = await Promise.all(accepted.map((turnId) => stack.finalTurn('busy-reject', turnId)));
    expect(turns.every((t) => t.status === 'succeeded')).toBe(true);
    // Run intervals never overlap on the thread.
    const intervals = turns
      .map((t) => [Date.parse(t.startedAt), Date.parse(t.endedAt)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i += 1) expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    // Exactly one user message and one reply per accepted turn, alternating, nothing from a refused one.
    const messages = await allMessages(stack, 'busy-reject');
    expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * accepted.length }, (_, i) => i + 1));
    for (let i = 0; i < messages.length; i += 2)
      expect([messages[i]!.role, messages[i + 1]!.role, messages[i + 1]!.turnId]).toEqual([
        'user',
        'assistant',
        messages[i]!.turnId,
      ]);
    expect(new Set(messages.map((m) => m.turnId))).toEqual(new Set(accepted));
    await settleAndCheck(stack);
  });

  it('onBusy enqueue: 12 submissions on each of two threads at once → all run, one at a time, in acceptance order; retention keeps the window', async () => {
    const threads = ['busy-queue-1', 'busy-queue-2'];
    for (const sessionKey of threads) expect((await spawn('queuer', TEST_KEYS.tenantA, sessionKey)).status).toBe(201);
    const results = await within(
      20_000,
      'enqueue storm',
      storm(24, (i) => submit(threads[i % 2]!, `message ${i}`)),
    );
    expect(statusCounts(results)).toEqual({ 202: 24 });
    await within(
      20_000,
      'the queued turns',
      Promise.all(results.map((r, i) => stack.finalTurn(threads[i % 2]!, r.body.turnId))),
    );
    await settleAndCheck(stack);
    for (const sessionKey of threads) {
      const turns = await stored('turn', sessionKey);
      expect(turns.map((t) => t.status)).toEqual(Array(12).fill('succeeded'));
      // No message lost or doubled: the 12 exchanges used exactly seqs 1..24, reply right after input.
      expect(turns.flatMap((t) => [t.userSeq, t.replySeq]).sort((a, b) => Number(a) - Number(b))).toEqual(
        Array.from({ length: 24 }, (_, i) => i + 1),
      );
      for (const t of turns) expect(t.replySeq).toBe(Number(t.userSeq) + 1);
      // Run order (userSeq) is acceptance order (queueSeq; the turn that found the thread free has none).
      const byQueue = [...turns].sort((a, b) => Number(a.queueSeq ?? 0) - Number(b.queueSeq ?? 0)).map((t) => t.turnId);
      const byRun = [...turns].sort((a, b) => Number(a.userSeq) - Number(b.userSeq)).map((t) => t.turnId);
      expect(byRun).toEqual(byQueue);
      // Memory keeps the last 8 exchanges, alternating user/assistant, each pair one turn.
      const messages = await allMessages(stack, sessionKey);
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 9));
      for (let i = 0; i < messages.length; i += 2)
        expect([messages[i]!.role, messages[i + 1]!.role, messages[i + 1]!.turnId]).toEqual([
          'user',
          'assistant',
          messages[i]!.turnId,
        ]);
    }
  });

  it('idempotency: 20 concurrent repeats of one key → one turn; 6 keys × 3 repeats on a queueing thread → 6 turns', async () => {
    expect((await spawn('rejecter', TEST_KEYS.tenantA, 'idem-free')).status).toBe(201);
    const repeats = await within(
      20_000,
      'repeat storm',
      storm(20, () => submit('idem-free', 'only once', 'the-key')),
    );
    expect(statusCounts(repeats)).toEqual({ 202: 20 });
    expect(new Set(repeats.map((r) => r.body.turnId)).size).toBe(1);
    expect(repeats.filter((r) => r.body.created === true)).toHaveLength(1);
    expect(await stored('turn', 'idem-free')).toHaveLength(1);

    const mixed = await within(
      20_000,
      'keyed enqueue storm',
      storm(18, (i) => submit('busy-queue-1', `keyed ${i % 6}`, `key-${i % 6}`)),
    );
    expect(statusCounts(mixed)).toEqual({ 202: 18 });
    for (let k = 0; k < 6; k += 1) {
      const same = mixed.filter((_, i) => i % 6 === k);
      expect(new Set(same.map((r) => r.body.turnId)).size).toBe(1);
      expect(same.filter((r) => r.body.created === true)).toHaveLength(1);
    }
    const turnIds = [...new Set(mixed.map((r) => r.body.turnId))];
    expect(turnIds).toHaveLength(6);
    const finals = await Promise.all(turnIds.map((turnId) => stack.finalTurn('busy-queue-1', turnId)));
    expect(finals.map((t) => t.status)).toEqual(Array(6).fill('succeeded'));
    expect((await stack.finalTurn('idem-free', repeats[0]!.body.turnId)).status).toBe('succeeded');
    await settleAndCheck(stack);
  });
});

describe('storm: terminate and restart during running turns', () => {
  it('concurrent terminates, restarts and new submissions while slow turns run: slots back once, no late reply, no leaked lease', async () => {
    const kept = ['s-0', 's-1', 's-2', 's-3', 's-4', 's-5'];
    const destroyed = ['sd-0', 'sd-1'];
    for (const sessionKey of kept) expect((await spawn('slow', TEST_KEYS.tenantA, sessionKey)).status).toBe(201);
    for (const sessionKey of destroyed)
      expect((await spawn('slowdestroy', TEST_KEYS.tenantA, sessionKey)).status).toBe(201);
    const running = new Map<string, string>();
    const firsts = await storm(8, (i) => submit([...kept, ...destroyed][i]!, `hang on ${[...kept, ...destroyed][i]!}`));
    firsts.forEach((r, i) => {
      expect(r.body.status).toBe('running');
      running.set([...kept, ...destroyed][i]!, r.body.turnId);
    });
    expect(await agentUse('slow')).toMatchObject({ runningTurns: 6 });

    const owner = (sessionKey: string): Owner => ({ sessionKey, key: TEST_KEYS.tenantA });
    const restart = (sessionKey: string) => stack.call('POST', `/v1/threads/${sessionKey}/restart`, { body: {} });
    const plan: [string, string, () => Promise<Response>][] = [
      ...['s-0', 's-1', 'sd-0', 'sd-1'].flatMap((k) =>
        [0, 1, 2].map((): [string, string, () => Promise<Response>] => [k, 'terminate', () => terminate(owner(k))]),
      ),
      ...['s-2', 's-3'].flatMap((k) =>
        [0, 1, 2].map((): [string, string, () => Promise<Response>] => [k, 'restart', () => restart(k)]),
      ),
      ['s-4', 'terminate', () => terminate(owner('s-4'))],
      ['s-4', 'restart', () => restart('s-4')],
      ['s-4', 'terminate', () => terminate(owner('s-4'))],
      ['s-4', 'restart', () => restart('s-4')],
      ['s-5', 'restart', () => restart('s-5')],
      ['s-5', 'submit', () => submit('s-5', 'after the restart')],
      ['s-5', 'submit', () => submit('s-5', 'after the restart, too')],
    ];
    const results = await within(
      20_000,
      'lifecycle storm',
      storm(plan.length, (i) => plan[i]![2]()),
    );
    const outcomes = (sessionKey: string, action: string) =>
      results.filter((_, i) => plan[i]![0] === sessionKey && plan[i]![1] === action);

    for (const sessionKey of ['s-0', 's-1', 's-4']) {
      const ends = outcomes(sessionKey, 'terminate');
      expect(ends.every((r) => r.status === 200)).toBe(true);
      expect(ends.filter((r) => r.body.alreadyTerminated === false)).toHaveLength(1);
    }
    for (const sessionKey of destroyed) {
      const ends = outcomes(sessionKey, 'terminate');
      for (const r of ends) expect([200, 404]).toContain(r.status);
      expect(ends.filter((r) => r.status === 200 && r.body.alreadyTerminated === false)).toHaveLength(1);
    }
    for (const sessionKey of ['s-2', 's-3']) {
      expect(outcomes(sessionKey, 'restart').map((r) => r.status)).toEqual([200, 200, 200]);
      expect((await stack.call('GET', `/v1/threads/${sessionKey}`)).body.generation).toBe(4);
    }
    // A restart after the terminate finds it terminated; one before it succeeds.
    for (const r of outcomes('s-4', 'restart'))
      expect(r.status === 200 || r.body.error.code === 'thread_terminated').toBe(true);
    // On s-5 a submission before the restart is refused as busy; after it, one new turn can run.
    const newTurns = outcomes('s-5', 'submit').filter((r) => r.status === 202);
    for (const r of outcomes('s-5', 'submit').filter((r) => r.status !== 202))
      expect(r.body.error.code).toBe('thread_busy');

    await settleAndCheck(stack);
    // The interrupted turns ended failed, and none of them wrote a reply afterwards.
    for (const sessionKey of kept) {
      const turn = await stack.finalTurn(sessionKey, running.get(sessionKey)!);
      expect(turn.status).toBe('failed');
      expect(turn.error).toMatch(/terminated|restarted/);
      const replies = (await stored('message', sessionKey)).filter(
        (m) => m.role === 'assistant' && m.turnId === running.get(sessionKey),
      );
      expect(replies).toEqual([]);
    }
    for (const r of newTurns) expect((await stack.finalTurn('s-5', r.body.turnId)).status).toBe('succeeded');
    for (const sessionKey of destroyed) expect((await stack.call('GET', `/v1/threads/${sessionKey}`)).status).toBe(404);
    expect(await agentUse('slow')).toMatchObject({ activeThreads: 3, runningTurns: 0 });
    expect(await agentUse('slowdestroy')).toMatchObject({ activeThreads: 0, runningTurns: 0 });

    await storm(3, (i) => terminate(owner(['s-2', 's-3', 's-5'][i]!)));
    await settleAndCheck(stack);
  });
});

describe('storm: agent restarts racing thread restarts, terminates and submissions on queueing threads', () => {
  it('two forced agent restarts at once fail each running turn exactly once; queues move on live threads and end on terminated ones', async () => {
    const threads = ['q-0', 'q-1', 'q-2', 'q-3'];
    const original = new Map<string, string>();
    await storm(4, async (t) => {
      const sessionKey = threads[t]!;
      expect((await spawn('slowq', TEST_KEYS.tenantA, sessionKey)).status).toBe(201);
      const statuses = [];
      for (let i = 0; i < 3; i += 1) {
        // The running turn hangs; the two queued behind it answer at once when they get to run.
        const r = await submit(sessionKey, i === 0 ? `${sessionKey}: hang` : `${sessionKey} turn ${i}`);
        statuses.push(r.body.status);
        if (i === 0) original.set(sessionKey, r.body.turnId);
      }
      expect(statuses).toEqual(['running', 'queued', 'queued']);
    });
    const owner = (sessionKey: string): Owner => ({ sessionKey, key: TEST_KEYS.tenantA });
    const restart = (sessionKey: string) => stack.call('POST', `/v1/threads/${sessionKey}/restart`, { body: {} });
    const agentRestart = () =>
      stack.call('POST', '/v1/agents/slowq/restart', { key: TEST_KEYS.admin, body: { force: true } });
    const plan: (() => Promise<Response>)[] = [
      agentRestart,
      agentRestart,
      () => restart('q-0'),
      () => restart('q-0'),
      () => terminate(owner('q-1')),
      () => terminate(owner('q-1')),
      () => submit('q-2', 'q-2 extra 0'),
      () => submit('q-2', 'q-2 extra 1'),
      () => terminate(owner('q-3')),
      () => restart('q-3'),
    ];
    const results = await within(
      20_000,
      'restart storm',
      storm(plan.length, (i) => plan[i]!()),
    );
    expect(results.slice(0, 2).map((r) => r.status)).toEqual([200, 200]);
    expect(results.slice(2, 4).map((r) => r.status)).toEqual([200, 200]);
    expect(results.slice(4, 6).map((r) => r.status)).toEqual([200, 200]);
    expect(results.slice(4, 6).filter((r) => r.body.alreadyTerminated === false)).toHaveLength(1);
    expect(results.slice(6, 8).map((r) => r.status)).toEqual([202, 202]);
    expect(results[8]!.status).toBe(200);
    expect(results[9]!.status === 200 || results[9]!.body.error.code === 'thread_terminated').toBe(true);

    await settleAndCheck(stack);
    const turns = new Map(await Promise.all(threads.map(async (k) => [k, await stored('turn', k)] as const)));
    // Each turn running at the storm failed, once, by whichever change got to it first.
    for (const [sessionKey, turnId] of original)
      expect(turns.get(sessionKey)!.find((t) => t.turnId === turnId)).toMatchObject({ status: 'failed' });
    const byAgentRestart = [...turns.values()]
      .flat()
      .filter((t) => t.error === 'the agent was restarted while this turn was running').length;
    expect(results[0]!.body.turnsFailed + results[1]!.body.turnsFailed).toBe(byAgentRestart);
    // Queues of live threads ran to the end; on terminated ones nothing finished after the terminate.
    for (const sessionKey of ['q-0', 'q-2'])
      expect(turns.get(sessionKey)!.every((t) => t.status === 'succeeded' || t.status === 'failed')).toBe(true);
    expect(turns.get('q-2')!.filter((t) => t.status === 'succeeded').length).toBeGreaterThanOrEqual(3);
    for (const sessionKey of ['q-1', 'q-3']) {
      const { body: thread } = await stack.call('GET', `/v1/threads/${sessionKey}`);
      expect(thread.status).toBe('terminated');
      for (const t of turns.get(sessionKey)!)
        if (t.status === 'succeeded') expect(String(t.endedAt) <= thread.terminatedAt).toBe(true);
      for (const m of await stored('message', sessionKey))
        expect(String(m.createdAt) <= thread.terminatedAt).toBe(true);
    }
    expect(await agentUse('slowq')).toMatchObject({ activeThreads: 2, runningTurns: 0 });
    await storm(2, (i) => terminate(owner(['q-0', 'q-2'][i]!)));
    await settleAndCheck(stack);
  });
});

describe('storm: maxConcurrentTurns across many threads of one agent', () => {
  it('12 threads submit at once for 3 turn slots: never more than 3 running (sampled), the rest 429, twice', async () => {
    const threads = Array.from({ length: 12 }, (_, i) => `cap-${i}`);
    await storm(12, (i) => spawn('capped', TEST_KEYS.tenantA, threads[i]));
    for (let wave = 0; wave < 2; wave += 1) {
      const sampled = sampler(() => agentUse('capped'), 50);
      const started = Date.now();
      const results = await within(
        20_000,
        `wave ${wave}`,
        storm(12, (i) => submit(threads[i]!, `wave ${wave}`)),
      );
      const elapsed = Date.now() - started;
      const accepted = results.filter((r) => r.status === 202);
      expect(accepted.length + results.filter((r) => r.status === 429).length).toBe(12);
      expectLimitRefusals(results, 'turn_limit_reached', 'maxConcurrentTurns', '2');
      // While the storm is shorter than one turn (1.5 s), no slot can come back: exactly 3 win.
      if (elapsed < 1_400) expect(accepted).toHaveLength(3);
      else expect(accepted.length).toBeGreaterThanOrEqual(3);
      const finals = await within(
        20_000,
        'the accepted turns',
        Promise.all(accepted.map((r) => stack.finalTurn(threads[results.indexOf(r)]!, r.body.turnId))),
      );
      expect(finals.every((t) => t.status === 'succeeded')).toBe(true);
      const samples = await sampled.stop();
      expect(Math.max(...samples.map((s) => s.runningTurns))).toBe(3);
      expect(samples.every((s) => s.runningTurns <= 3)).toBe(true);
      await settleAndCheck(stack);
      expect((await agentUse('capped')).runningTurns).toBe(0);
    }
  });
});
