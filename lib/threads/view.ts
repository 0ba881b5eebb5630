import { displayStatus, type Thread, type ThreadStatus } from './model.js';

/** A thread as API clients see it: no locks, hashes or other internals. */
export interface ThreadView {
  sessionKey: string;
  threadId: string;
  agent: string;
  mode: Thread['mode'];
  status: ThreadStatus;
  generation: number;
  createdAt: string;
  lastActiveAt: string;
  /** When a live thread becomes eligible for the idle sweep. */
  idleAt?: string;
  terminatedAt?: string;
  terminationReason?: string;
  turnCount: number;
  lineage?: Thread['lineage'];
  runningTurn?: { turnId: string; leaseExpiresAt: string };
  metadata: Record<string, string>;
}

/** Projects a stored thread to its client view. */
export function threadView(thread: Thread, idleTimeoutMs: number, now: Date): ThreadView {
  const live = thread.status !== 'terminated';
  return {
    sessionKey: thread.sessionKey,
    threadId: thread.threadId,
    agent: thread.agent,
    mode: thread.mode,
    status: displayStatus(thread, idleTimeoutMs, now),
    generation: thread.generation,
    createdAt: thread.createdAt,
    lastActiveAt: thread.lastActiveAt,
    ...(live ? { idleAt: new Date(Date.parse(thread.lastActiveAt) + idleTimeoutMs).toISOString() } : {}),
    ...(thread.terminatedAt ? { terminatedAt: thread.terminatedAt, terminationReason: thread.terminationReason } : {}),
    turnCount: thread.turnCount,
    ...(thread.lineage ? { lineage: thread.lineage } : {}),
    ...(thread.lease
      ? { runningTurn: { turnId: thread.lease.turnId, leaseExpiresAt: thread.lease.leaseExpiresAt } }
      : {}),
    metadata: thread.metadata,
  };
}
