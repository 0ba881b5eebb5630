import { describe, expect, it } from 'vitest';
import { claimQueueHead, claimTurn, LEASE_EXPIRED_ERROR } from '../../lib/turns/claim.js';
import { anAgent, aThread, aTurn, NOW } from './turn-fixtures.js';

const at = NOW.toISOString();
const expiresAt = Math.ceil((NOW.getTime() + 86_400_000) / 1000);

describe('claim of a free thread', () => {
  it('takes the lease with the next fencing token, writes the user message and reserves a slot', () => {
    const thread = aThread();
    const claim = claimTurn(thread, anAgent(), aTurn(), NOW, 'new');
    expect(claim.after).toEqual({
      ...thread,
      version: 8,
      lease: { turnId: 'turn_a', leaseExpiresAt: new Date(NOW.getTime() + 95_000).toISOString(), fencingToken: 4 },
      fencingSeq: 4,
      messageSeq: 7,
      turnCount: 4,
      lastActiveAt: at,
    });
    expect(claim.turn).toEqual({
      ...aTurn(),
      status: 'running',
      fencingToken: 4,
      userSeq: 7,
      startedAt: at,
      generation: 2,
    });
    expect(claim.writes).toEqual([
      { kind: 'putTurn', turn: claim.turn },
      {
        kind: 'putMessage',
        message: { seq: 7, role: 'user', content: 'hello', turnId: 'turn_a', agent: 'data', createdAt: at, expiresAt },
      },
      { kind: 'reserveTurnSlot', agent: 'data', max: 2 },
    ]);
  });

  it('a queued turn moves on exactly once: it is updated from queued, not inserted', () => {
    const claim = claimTurn(aThread(), anAgent(), aTurn({ queueSeq: 5 }), NOW, 'from-queue');
    expect(claim.writes[0]).toEqual({ kind: 'updateTurn', turn: claim.turn, expected: 'queued' });
  });

  it('the takeover of an expired lease fails its turn and reuses its slot', () => {
    const lease = { turnId: 'turn_old', leaseExpiresAt: '2026-06-01T11:00:00.000Z', fencingToken: 3 };
    const claim = claimTurn(aThread({ lease }), anAgent(), aTurn(), NOW, 'new');
    expect(claim.writes.at(-1)).toEqual({ kind: 'failTurn', turnId: 'turn_old', error: LEASE_EXPIRED_ERROR, at });
    expect(claim.writes.some((w) => w.kind === 'reserveTurnSlot')).toBe(false);
    expect(claim.after.lease?.turnId).toBe('turn_a');
  });

  it('the turn keeps the generation of the thread it is claimed under', () => {
    expect(claimTurn(aThread({ generation: 5 }), anAgent(), aTurn(), NOW, 'new').turn.generation).toBe(5);
  });
});

describe('claim of the queue head', () => {
  it('is a from-queue claim that also takes the turn off the queue', () => {
    const thread = aThread({ queuedTurns: 2 });
    const queued = aTurn({ queueSeq: 3 });
    const claim = claimQueueHead(thread, anAgent(), queued, { queueSeq: 3 }, NOW);
    const plain = claimTurn(thread, anAgent(), queued, NOW, 'from-queue');
    expect(claim.after).toEqual({ ...plain.after, queuedTurns: 1 });
    expect(claim.turn).toEqual(plain.turn);
    expect(claim.writes).toEqual([...plain.writes, { kind: 'dequeue', queueSeq: 3 }]);
  });
});
