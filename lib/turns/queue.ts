import type { Config } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { ThreadWrite } from '../threads/ports.js';
import { holdsLiveLease } from './lease.js';
import type { Turn } from './model.js';

/**
 * Whether the thread's queue head may start now: turns wait, the thread is live and free (no lease,
 * or one that expired), and its agent is still configured (one that left the config runs nothing
 * more; reconciliation or the sweep ends the thread).
 */
export function queueHeadMayStart(thread: Thread | undefined, agents: Config['agents'], now: Date): thread is Thread {
  if (!thread || thread.status === 'terminated' || thread.queuedTurns === 0) return false;
  if (!(thread.agent in agents)) return false;
  return !holdsLiveLease(thread, now);
}

/** A turn put at the tail of the thread's queue: the queued turn, the thread after, and the writes. */
export function enqueueTurn(thread: Thread, turn: Turn): { queued: Turn; after: Thread; writes: ThreadWrite[] } {
  const queued: Turn = { ...turn, queueSeq: thread.queueSeq + 1 };
  const after: Thread = {
    ...thread,
    version: thread.version + 1,
    queueSeq: thread.queueSeq + 1,
    queuedTurns: thread.queuedTurns + 1,
  };
  return {
    queued,
    after,
    writes: [
      { kind: 'putTurn', turn: queued },
      { kind: 'enqueue', queueSeq: queued.queueSeq!, turnId: turn.turnId },
    ],
  };
}
