import { describe, expect, it } from 'vitest';
import type { Config } from '../../lib/config/schema.js';
import { enqueueTurn, queueHeadMayStart } from '../../lib/turns/queue.js';
import { anAgent, aThread, aTurn, NOW } from './turn-fixtures.js';

const agents = { data: anAgent() } as Config['agents'];
const lease = (expiresAt: string) => ({ turnId: 'turn_old', leaseExpiresAt: expiresAt, fencingToken: 3 });

describe('queue head choice', () => {
  it('starts the head of a free live thread with turns waiting', () => {
    expect(queueHeadMayStart(aThread({ queuedTurns: 1 }), agents, NOW)).toBe(true);
  });

  it('an expired lease does not hold the queue back (its claim takes it over)', () => {
    expect(queueHeadMayStart(aThread({ queuedTurns: 1, lease: lease('2026-06-01T11:00:00.000Z') }), agents, NOW)).toBe(
      true,
    );
  });

  it('starts nothing on a missing, terminated, busy or empty thread, or one whose agent left the config', () => {
    expect(queueHeadMayStart(undefined, agents, NOW)).toBe(false);
    expect(queueHeadMayStart(aThread({ queuedTurns: 0 }), agents, NOW)).toBe(false);
    expect(queueHeadMayStart(aThread({ queuedTurns: 1, status: 'terminated' }), agents, NOW)).toBe(false);
    expect(queueHeadMayStart(aThread({ queuedTurns: 1, agent: 'gone' }), agents, NOW)).toBe(false);
    expect(queueHeadMayStart(aThread({ queuedTurns: 1, lease: lease('2026-06-01T13:00:00.000Z') }), agents, NOW)).toBe(
      false,
    );
  });
});

describe('enqueue', () => {
  it('puts the turn at the tail with the next queueSeq, in one version step', () => {
    const thread = aThread({ queuedTurns: 1, queueSeq: 4 });
    const { queued, after, writes } = enqueueTurn(thread, aTurn());
    expect(queued).toEqual({ ...aTurn(), queueSeq: 5 });
    expect(after).toEqual({ ...thread, version: 8, queueSeq: 5, queuedTurns: 2 });
    expect(writes).toEqual([
      { kind: 'putTurn', turn: queued },
      { kind: 'enqueue', queueSeq: 5, turnId: 'turn_a' },
    ]);
  });
});
