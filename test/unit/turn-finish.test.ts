import { describe, expect, it } from 'vitest';
import { finishTransition } from '../../lib/turns/finish.js';
import { anAgent, aThread, aTurn, NOW } from './turn-fixtures.js';

const at = NOW.toISOString();
const lease = { turnId: 'turn_a', leaseExpiresAt: '2026-06-01T12:01:00.000Z', fencingToken: 4 };
const running = aTurn({ status: 'running', fencingToken: 4, userSeq: 7, startedAt: '2026-06-01T11:59:30.000Z' });

describe('finish transition', () => {
  it('a reply: one assistant message, the turn final with it, the lease and slot released, audited', () => {
    const thread = aThread({ lease, messageSeq: 7, fencingSeq: 4 });
    const change = finishTransition(
      thread,
      running,
      { status: 'succeeded', reply: 'hi', subAgents: [] },
      undefined,
      anAgent(),
      NOW,
    );
    expect(change.writes).toEqual([
      {
        kind: 'putMessage',
        message: {
          seq: 8,
          role: 'assistant',
          content: 'hi',
          turnId: 'turn_a',
          agent: 'data',
          createdAt: at,
          expiresAt: Math.ceil((NOW.getTime() + 86_400_000) / 1000),
        },
      },
      {
        kind: 'updateTurn',
        turn: { ...running, status: 'succeeded', endedAt: at, subAgents: [], reply: 'hi', replySeq: 8 },
        expected: 'running',
      },
    ]);
    expect(change.counters).toEqual([{ agent: 'data', runningTurns: -1 }]);
    expect(change.after).toMatchObject({ version: 8, lease: undefined, messageSeq: 8, lastActiveAt: at, auditSeq: 6 });
    expect(change.after.auditHash).toBe(change.audit.hash);
    expect(change.audit).toMatchObject({ seq: 6, type: 'agent_exec', actor: 'turn:turn_a' });
  });

  it('a timeout writes no message, keeps the error and counts the timed-out turn', () => {
    const change = finishTransition(
      aThread({ lease, messageSeq: 7 }),
      running,
      { status: 'timed_out', error: 'too slow' },
      undefined,
      anAgent(),
      NOW,
    );
    expect(change.writes.map((w) => w.kind)).toEqual(['updateTurn']);
    expect(change.after.messageSeq).toBe(7);
    expect(change.counters).toEqual([{ agent: 'data', runningTurns: -1, timedOutTurns: 1 }]);
    expect(change.audit.data).toMatchObject({ status: 'timed_out', error: 'too slow' });
  });

  it("a sub-agent's finish is fenced by its parent's lease, written last", () => {
    const guard = { tenant: 'acme', sessionKey: 'parent', turnId: 'turn_p', fencingToken: 9 };
    const change = finishTransition(
      aThread({ lease, messageSeq: 7 }),
      running,
      { status: 'failed', error: 'x' },
      guard,
      anAgent(),
      NOW,
    );
    expect(change.writes.at(-1)).toEqual({ kind: 'assertLease', ...guard });
  });

  it('claims the messages that fell out of the window and records how far', () => {
    const change = finishTransition(
      aThread({ lease, messageSeq: 9, trimmedThroughSeq: 2 }),
      running,
      { status: 'succeeded', reply: 'hi', subAgents: [] },
      undefined,
      anAgent({ memory: { maxTurns: 2, maxAge: '1d', maxBytes: 10_000 } }),
      NOW,
    );
    expect(change.trim).toEqual({ seqs: [3, 4, 5, 6], through: 6 });
    expect(change.after.trimmedThroughSeq).toBe(6);
  });
});
