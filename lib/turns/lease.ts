import { durationSeconds } from '../config/duration.js';
import type { AgentConfig } from '../config/schema.js';
import type { Thread, ThreadLease } from '../threads/model.js';
import { FINAL_STATUSES, type Turn } from './model.js';

/** Extra time a lease outlives the turn's budget before another turn may take the thread over. */
export const LEASE_GRACE_MS = 5_000;

/** A lease another write must still match: a sub-agent's writes are fenced by its parent turn's lease. */
export interface LeaseGuard {
  tenant: string;
  sessionKey: string;
  turnId: string;
  fencingToken: number;
}

/** A lease lasts the turn's whole budget (main, sub-agents, coalesce: each up to the timeout) plus a grace. */
export function leaseMs(agent: Pick<AgentConfig, 'timeout'>): number {
  return 3 * durationSeconds(agent.timeout) * 1000 + LEASE_GRACE_MS;
}

/** Whether the lease's time is up at `now`. */
export function leaseExpired(lease: ThreadLease, now: Date): boolean {
  return Date.parse(lease.leaseExpiresAt) <= now.getTime();
}

/** Whether a turn holds the thread under a lease that has not expired. */
export function holdsLiveLease(thread: Pick<Thread, 'lease'>, now: Date): boolean {
  return thread.lease !== undefined && !leaseExpired(thread.lease, now);
}

/**
 * Whether a thread's lease may be taken from it, given the turn it names (as read): `orphaned` when
 * that turn is missing or already final (whatever the expiry), `expired` when a running turn's lease
 * ran out, `denied` while a running turn is within its lease.
 */
export function leaseTakeover(
  thread: Pick<Thread, 'lease'>,
  turn: Turn | undefined,
  now: Date,
): 'denied' | 'expired' | 'orphaned' {
  if (!turn || FINAL_STATUSES.includes(turn.status)) return 'orphaned';
  return holdsLiveLease(thread, now) ? 'denied' : 'expired';
}
