import type { AgentConfig } from '../config/schema.js';
import type { Thread, ThreadLease } from '../threads/model.js';
import type { ThreadWrite } from '../threads/ports.js';
import { leaseMs } from './lease.js';
import { messageTtl } from './message-ttl.js';
import type { Turn } from './model.js';

/** What a claim writes: the thread after it, the running turn, and the writes of its transaction. */
export interface Claim {
  after: Thread;
  turn: Turn;
  writes: ThreadWrite[];
}

/** The error a turn gets when another takes over its expired lease (or recovery releases it). */
export const LEASE_EXPIRED_ERROR = 'the turn did not finish before its lease expired';

/**
 * The claim of a free thread for a turn: lease with a new fencing token, the user message, a
 * running-turn slot (reused when the lease being taken over had expired), and the old turn failed.
 */
export function claimTurn(
  thread: Thread,
  agent: AgentConfig,
  accepted: Turn,
  now: Date,
  source: 'new' | 'from-queue',
): Claim {
  const at = now.toISOString();
  const fencingToken = thread.fencingSeq + 1;
  const messageSeq = thread.messageSeq + 1;
  const lease: ThreadLease = {
    turnId: accepted.turnId,
    leaseExpiresAt: new Date(now.getTime() + leaseMs(agent)).toISOString(),
    fencingToken,
  };
  const turn: Turn = {
    ...accepted,
    status: 'running',
    fencingToken,
    userSeq: messageSeq,
    startedAt: at,
    generation: thread.generation,
  };
  const writes: ThreadWrite[] = [
    // A new turn is inserted (refused if its id exists: idempotency); a queued one moves on exactly once.
    source === 'new' ? { kind: 'putTurn', turn } : { kind: 'updateTurn', turn, expected: 'queued' },
    {
      kind: 'putMessage',
      message: {
        seq: messageSeq,
        role: 'user',
        content: accepted.input,
        turnId: accepted.turnId,
        agent: thread.agent,
        createdAt: at,
        ...messageTtl(agent, now),
      },
    },
  ];
  if (thread.lease) {
    // Takeover of an expired lease: its turn's slot passes to this turn (no new slot is taken).
    writes.push({ kind: 'failTurn', turnId: thread.lease.turnId, error: LEASE_EXPIRED_ERROR, at });
  } else {
    writes.push({ kind: 'reserveTurnSlot', agent: thread.agent, max: agent.maxConcurrentTurns });
  }
  const after: Thread = {
    ...thread,
    version: thread.version + 1,
    lease,
    fencingSeq: fencingToken,
    messageSeq,
    turnCount: thread.turnCount + 1,
    lastActiveAt: at,
  };
  return { after, turn, writes };
}

/** The claim of the queue head (`head`, naming `queued`): a claim that also takes the turn off the queue. */
export function claimQueueHead(
  thread: Thread,
  agent: AgentConfig,
  queued: Turn,
  head: { queueSeq: number },
  now: Date,
): Claim {
  const claim = claimTurn(thread, agent, queued, now, 'from-queue');
  return {
    after: { ...claim.after, queuedTurns: thread.queuedTurns - 1 },
    turn: claim.turn,
    writes: [...claim.writes, { kind: 'dequeue', queueSeq: head.queueSeq }],
  };
}
