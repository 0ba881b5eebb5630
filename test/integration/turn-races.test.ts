import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, testAgent } from '../support/local-stack.js';

// Two agents that differ only in what a second turn on a busy thread gets.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    agents: {
      // A memory window larger than the race, so the whole history stays to be checked.
      rejecter: testAgent(['test:delay=30'], {
        onBusy: 'reject',
        memory: { maxTurns: 100, maxAge: '24h', maxBytes: 1_000_000 },
      }),
      queuer: testAgent(['test:delay=20'], {
        onBusy: 'enqueue',
        memory: { maxTurns: 100, maxAge: '24h', maxBytes: 1_000_000 },
      }),
    } as never,
  });
});
afterAll(async () => stack?.stop());

type Msg = { seq: number; role: string; turnId: string };

async function allMessages(sessionKey: string): Promise<Msg[]> {
  const messages: Msg[] = [];
  let after = 0;
  for (;;) {
    const { body } = await stack.call('GET', `/v1/threads/${sessionKey}/messages?after=${after}&limit=100`);
    messages.push(...body.messages);
    if (body.nextAfter === undefined) return messages;
    after = body.nextAfter;
  }
}

/** No gap, no duplicate, strictly user/assistant pairs of one turn each. */
function expectAlternatingHistory(messages: Msg[], turns: number) {
  expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * turns }, (_, i) => i + 1));
  for (const [i, m] of messages.entries()) expect(m.role).toBe(i % 2 === 0 ? 'user' : 'assistant');
  for (let i = 0; i < messages.length; i += 2) expect(messages[i + 1]!.turnId).toBe(messages[i]!.turnId);
  expect(new Set(messages.map((m) => m.turnId)).size).toBe(turns);
}

describe('one turn at a time per thread', () => {
  it('reject mode: 50 concurrent submissions → 409 for every turn that finds the thread busy, never two running', async () => {
    await stack.call('POST', '/v1/threads', { body: { agent: 'rejecter', sessionKey: 'race-reject' } });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stack.call('POST', '/v1/threads/race-reject/turns', { body: { input: `message ${i}` } }),
      ),
    );
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 409);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length + refused.length).toBe(50);
    for (const r of refused)
      expect(r.body.error).toMatchObject({
        code: 'thread_busy',
        details: { runningTurnId: expect.stringMatching(/^turn_/) },
      });

    const turns = await Promise.all(accepted.map((r) => stack.finalTurn('race-reject', r.body.turnId)));
    expect(turns.every((t) => t.status === 'succeeded')).toBe(true);
    // At every moment at most one turn ran: the accepted turns' run intervals never overlap.
    const intervals = turns
      .map((t) => [Date.parse(t.startedAt), Date.parse(t.endedAt)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i += 1) expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    expectAlternatingHistory(await allMessages('race-reject'), accepted.length);
    expect((await stack.agentCounters()).rejecter!.runningTurns).toBe(0);
  });

  it('enqueue mode: 50 concurrent submissions all complete, in the order they were accepted, as 100 alternating messages', async () => {
    await stack.call('POST', '/v1/threads', { body: { agent: 'queuer', sessionKey: 'race-queue' } });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stack.call('POST', '/v1/threads/race-queue/turns', { body: { input: `message ${i}` } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(202));
    expect(results.filter((r) => r.body.status === 'queued').length).toBeGreaterThan(0);

    const turns = await Promise.all(results.map((r) => stack.finalTurn('race-queue', r.body.turnId)));
    expect(turns.map((t) => t.status)).toEqual(Array(50).fill('succeeded'));
    const messages = await allMessages('race-queue');
    expectAlternatingHistory(messages, 50);

    // Acceptance order is the queue order (the turn that found the thread free first): it must be run order.
    const stored = (await stack.table.scanAll()).filter(
      (item) => item.kind === 'turn' && String(item.pk).endsWith('#race-queue'),
    );
    const acceptance = stored.sort((a, b) => Number(a.queueSeq ?? 0) - Number(b.queueSeq ?? 0)).map((t) => t.turnId);
    const runOrder = messages.filter((m) => m.role === 'user').map((m) => m.turnId);
    expect(runOrder).toEqual(acceptance);
    expect((await stack.table.scanAll()).filter((item) => item.kind === 'queue')).toEqual([]);
    expect((await stack.agentCounters()).queuer!.runningTurns).toBe(0);
  });

  it('idempotency: concurrent repeats of one key are one turn and one execution', async () => {
    await stack.call('POST', '/v1/threads', { body: { agent: 'rejecter', sessionKey: 'idem' } });
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        stack.call('POST', '/v1/threads/idem/turns', { body: { input: 'once', idempotencyKey: 'k-1' } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(202));
    const ids = new Set(results.map((r) => r.body.turnId));
    expect(ids.size).toBe(1);
    const [turnId] = [...ids] as [string];
    expect(results.filter((r) => r.body.created === true)).toHaveLength(1);
    await stack.finalTurn('idem', turnId);
    const again = await stack.call('POST', '/v1/threads/idem/turns', {
      body: { input: 'once', idempotencyKey: 'k-1' },
    });
    expect(again.body).toEqual({ turnId, status: 'succeeded', created: false });
    expect([...stack.stepFunctions.executions.keys()].filter((name) => name === turnId)).toHaveLength(1);
    expect((await allMessages('idem')).length).toBe(2);
    // The same key with another input is a client bug, not a repeat: refused, nothing written.
    const before = await stack.table.scanAll();
    const reused = await stack.call('POST', '/v1/threads/idem/turns', {
      body: { input: 'something else', idempotencyKey: 'k-1' },
    });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'idempotency_key_reused', details: { turnId } });
    expect(await stack.table.scanAll()).toEqual(before);
  });
});
