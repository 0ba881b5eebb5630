import type { AuditEntry } from '../audit/chain.js';
import type { Thread } from './model.js';

/** Live-thread and running-turn counts of one agent. */
export interface AgentCounters {
  activeThreads: number;
  runningTurns: number;
}

/** A change to the counters that must happen atomically with a thread change. */
export interface CounterDelta {
  agent: string;
  activeThreads?: number;
  runningTurns?: number;
}

/** Limits a spawn must respect; checked by the store atomically with the insert. */
export interface SpawnLimits {
  maxThreads: number;
  maxActiveThreads: number;
}

/** A position in a tenant's thread list: the list is ordered by (createdAt, sessionKey), newest first. */
export interface ThreadPosition {
  createdAt: string;
  sessionKey: string;
}

/** A page of a tenant's threads, newest first. */
export interface ThreadPage {
  threads: Thread[];
  /** Whether more threads follow the last one of this page. */
  more: boolean;
}

/** Persistence of threads, their audit chains and the agent counters. */
export interface ThreadStore {
  /**
   * Inserts a new thread, its first audit entry and the counter increments in one atomic step.
   * Throws ThreadError('thread_exists') or LimitReachedError; on either, nothing is written.
   */
  create(thread: Thread, audit: AuditEntry, limits: SpawnLimits): Promise<void>;

  /** The thread, or undefined. */
  get(tenant: string, sessionKey: string): Promise<Thread | undefined>;

  /**
   * Replaces `before` by `after` with its audit entry and counter changes in one atomic step,
   * only if the stored thread still has before.version and is not terminated.
   * Returns false (writing nothing) when that condition fails: the caller re-reads and decides.
   */
  transition(before: Thread, after: Thread, audit: AuditEntry, counters: CounterDelta[]): Promise<boolean>;

  /** Deletes a thread's items (META, messages, turns) but never its audit entries. Idempotent. */
  destroy(tenant: string, sessionKey: string): Promise<void>;

  /** Deletes messages with seq <= floorSeq (they already left memory). Idempotent. */
  trimMessages(tenant: string, sessionKey: string, floorSeq: number): Promise<void>;

  /** A page of the tenant's threads, newest first, starting after `after`. */
  listByTenant(tenant: string, options: { after?: ThreadPosition; pageSize: number }): Promise<ThreadPage>;

  /** Counters of the named agents plus the deployment total of live threads. */
  counters(agents: string[]): Promise<{ agents: Record<string, AgentCounters>; activeThreads: number }>;

  /** The audit entries of one thread incarnation, in order. */
  auditTrail(tenant: string, sessionKey: string, threadId: string): Promise<AuditEntry[]>;
}
