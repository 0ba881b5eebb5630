import { describe, expect, it } from 'vitest';
import type { Config } from '../../lib/config/schema.js';
import type { Thread } from '../../lib/threads/model.js';
import type { ThreadStore, ThreadWrite, TransitionOutcome } from '../../lib/threads/ports.js';
import type { TurnContext } from '../../lib/turns/context.js';
import type { Turn } from '../../lib/turns/model.js';
import { recoverThread, startNextQueued } from '../../lib/turns/unstick.js';
import { anAgent, aThread, aTurn, NOW } from './turn-fixtures.js';

/** A one-thread store: transitions apply `after` unless the script refuses them first. */
function fakeContext(thread: Thread, turns: Turn[], refusals: TransitionOutcome[] = []) {
  const state = { thread, turns: new Map(turns.map((t) => [t.turnId, t])) };
  const transitions: ThreadWrite['kind'][][] = [];
  const started: string[] = [];
  const store = {
    get: async () => state.thread,
    getTurn: async (_t: string, _k: string, turnId: string) => state.turns.get(turnId),
    queueHead: async () => {
      const queued = [...state.turns.values()].filter((t) => t.status === 'queued');
      return queued[0] && { queueSeq: queued[0].queueSeq ?? 0, turnId: queued[0].turnId };
    },
    transition: async (
      _before: Thread,
      after: Thread,
      _audit: unknown,
      _counters: unknown,
      writes: ThreadWrite[] = [],
    ) => {
      transitions.push(writes.map((w) => w.kind));
      const refusal = refusals.shift();
      if (refusal) return refusal;
      state.thread = after;
      for (const w of writes)
        if (w.kind === 'updateTurn' || w.kind === 'putTurn') state.turns.set(w.turn.turnId, w.turn);
      return { ok: true };
    },
  } as unknown as ThreadStore;
  const ctx: TurnContext = {
    config: { agents: { data: anAgent() } } as unknown as Config,
    store,
    workflow: { start: async (name: string) => void started.push(name) },
    now: () => NOW,
  };
  return { ctx, state, transitions, started };
}

const expired = { turnId: 'turn_old', leaseExpiresAt: '2026-06-01T11:00:00.000Z', fencingToken: 3 };
const oldTurn = aTurn({ turnId: 'turn_old', status: 'running', fencingToken: 3 });
const queuedTurn = aTurn({ turnId: 'turn_next', queueSeq: 5 });

describe('recovery', () => {
  it('releases an expired lease with nothing queued: fails its turn, gives the slot back', async () => {
    const { ctx, state, transitions } = fakeContext(aThread({ lease: expired }), [oldTurn]);
    expect(await recoverThread(ctx, 'acme', 's1')).toEqual({
      outcome: 'released',
      leaseReleased: true,
      turnFailed: true,
      turnStarted: false,
      gaveUp: false,
    });
    expect(transitions).toEqual([['failTurn']]);
    expect(state.thread.lease).toBeUndefined();
  });

  it('hands an expired lease straight to the queue head (one claim that fails the old turn), then starts it', async () => {
    const { ctx, transitions, started } = fakeContext(aThread({ lease: expired, queuedTurns: 1 }), [
      oldTurn,
      queuedTurn,
    ]);
    expect(await recoverThread(ctx, 'acme', 's1')).toEqual({
      outcome: 'started',
      leaseReleased: true,
      turnFailed: true,
      turnStarted: true,
      gaveUp: false,
    });
    expect(transitions).toEqual([['updateTurn', 'putMessage', 'failTurn', 'dequeue']]);
    expect(started).toEqual(['turn_next']);
  });

  it('leaves a live lease alone', async () => {
    const live = { ...expired, leaseExpiresAt: '2026-06-01T13:00:00.000Z' };
    const { ctx, transitions } = fakeContext(aThread({ lease: live, queuedTurns: 1 }), [oldTurn, queuedTurn]);
    expect((await recoverThread(ctx, 'acme', 's1')).outcome).toBe('none');
    expect(transitions).toEqual([]);
  });

  it('a queue head blocked by an orphan lease: the claim is refused, recovery releases it, the head starts', async () => {
    const orphan = { ...expired, leaseExpiresAt: '2026-06-01T11:59:00.000Z' };
    const { ctx, transitions, started } = fakeContext(
      aThread({ lease: orphan, queuedTurns: 1 }),
      [oldTurn, queuedTurn],
      [{ ok: false, reason: 'turn_state' }],
    );
    // The claim's failTurn found the old turn final meanwhile (turn_state): it is an orphan now.
    ctx.store.getTurn = async (_t, _k, turnId) =>
      turnId === 'turn_old' ? { ...oldTurn, status: 'succeeded' } : turnId === 'turn_next' ? queuedTurn : undefined;
    expect(await startNextQueued(ctx, 'acme', 's1')).toBe(true);
    expect(transitions).toEqual([
      ['updateTurn', 'putMessage', 'failTurn', 'dequeue'],
      [],
      ['updateTurn', 'putMessage', 'reserveTurnSlot', 'dequeue'],
    ]);
    expect(started).toEqual(['turn_next']);
  });

  it('gives up after every attempt lost a race, having decided nothing', async () => {
    const refusals = Array.from({ length: 100 }, () => ({ ok: false, reason: 'version' }) as const);
    const { ctx } = fakeContext(aThread({ lease: expired }), [oldTurn], refusals);
    expect(await recoverThread(ctx, 'acme', 's1')).toEqual({
      outcome: 'none',
      leaseReleased: false,
      turnFailed: false,
      turnStarted: false,
      gaveUp: true,
    });
  }, 30_000);
});
