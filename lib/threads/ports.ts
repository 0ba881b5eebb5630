import type { AuditEntry } from '../audit/chain.js';
import type { Message, Turn, TurnStatus } from '../turns/model.js';
import type { Thread } from './model.js';

/** Live-thread and running-turn counts of one agent. */
export interface AgentCounters {
  activeThreads: number;
  runningTurns: number;
  /** Turns that ran past the agent's timeout, ever (a running total, never decremented). */
  timedOutTurns: number;
}

/** A change to the counters that must happen atomically with a thread change. */
export interface CounterDelta {
  agent: string;
  activeThreads?: number;
  runningTurns?: number;
  timedOutTurns?: number;
}

/** Writes that commit atomically with a thread transition (see ThreadRecords.transition). */
export type ThreadWrite =
  /** Appends a message; refused if its seq is taken. */
  | { kind: 'putMessage'; message: Message }
  /** Records a new turn; refused (turn_exists) if the turnId is taken: the idempotency guard. */
  | { kind: 'putTurn'; turn: Turn }
  /** Replaces a turn, only if it still has `expected` status (turn_state otherwise). */
  | { kind: 'updateTurn'; turn: Turn; expected: TurnStatus }
  /** Marks a running turn failed without reading it (its lease was taken over or released). */
  | { kind: 'failTurn'; turnId: string; error: string; at: string }
  /** Adds the turn at the tail of the thread's queue. */
  | { kind: 'enqueue'; queueSeq: number; turnId: string }
  /** Removes a queue entry (the turn it names is starting). */
  | { kind: 'dequeue'; queueSeq: number }
  /** Requires that a (parent) thread's lease is still held by this turn and fencing token (lease_lost otherwise). */
  | { kind: 'assertLease'; tenant: string; sessionKey: string; turnId: string; fencingToken: number }
  /** Takes one of the agent's running-turn slots, only while fewer than `max` are taken (turn_limit otherwise). */
  | { kind: 'reserveTurnSlot'; agent: string; max: number };

/** Why a transition wrote nothing. */
export type TransitionRefusal = 'version' | 'turn_exists' | 'turn_state' | 'turn_limit' | 'lease_lost';

/** Outcome of ThreadRecords.transition. */
export type TransitionOutcome = { ok: true } | { ok: false; reason: TransitionRefusal };

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

/**
 * A position in the live-thread index, opaque to the domain: only the store that made it reads it.
 * Any string a store did not make (or one from a wider range than the query's) starts the shard over.
 */
export type LiveCursor = string;

/** A page of one shard of the live-thread index. */
export interface LivePage {
  threads: Thread[];
  /** Where the next page starts; absent when the shard (within `activeBefore`) is exhausted. */
  cursor?: LiveCursor;
}

/** Threads, their turns and queues, and the atomic transitions between their states. */
export interface ThreadRecords {
  /**
   * Inserts a new thread, its first audit entry and the counter increments in one atomic step.
   * Throws ThreadError('thread_exists') or LimitReachedError; on either, nothing is written.
   */
  create(thread: Thread, audit: AuditEntry, limits: SpawnLimits): Promise<void>;

  /** The thread, or undefined. */
  get(tenant: string, sessionKey: string): Promise<Thread | undefined>;

  /**
   * Replaces `before` by `after` with its audit entry, counter changes and other writes in one
   * atomic step, only if the stored thread still has before.version and is not terminated (a
   * transition to "terminated" itself included). When any condition fails nothing is written and
   * the reason is returned: "version" means the caller lost a race and should re-read.
   */
  transition(
    before: Thread,
    after: Thread,
    audit: AuditEntry | undefined,
    counters: CounterDelta[],
    writes?: ThreadWrite[],
  ): Promise<TransitionOutcome>;

  /** A turn of the thread, or undefined. */
  getTurn(tenant: string, sessionKey: string, turnId: string): Promise<Turn | undefined>;

  /** The thread's oldest queue entry, or undefined when the queue is empty. */
  queueHead(tenant: string, sessionKey: string): Promise<{ queueSeq: number; turnId: string } | undefined>;

  /**
   * Deletes a terminated thread's items but never its audit entries: the thread item last, and only
   * if it is still the terminated incarnation `threadId`. Idempotent; an interrupted call is finished by the next.
   */
  destroy(tenant: string, sessionKey: string, threadId: string): Promise<void>;

  /** Fails every queued turn of a (terminated) thread and empties its queue. Idempotent. */
  failQueuedTurns(tenant: string, sessionKey: string, error: string, at: string): Promise<number>;

  /** A page of the tenant's threads, newest first, starting after `after`. */
  listByTenant(tenant: string, options: { after?: ThreadPosition; pageSize: number }): Promise<ThreadPage>;
}

/** A thread's messages: its memory, read by range and trimmed from the oldest end. */
export interface ThreadMessages {
  /** Messages with seq in (afterSeq, …], oldest first, at most `limit`. */
  messagesAfter(tenant: string, sessionKey: string, afterSeq: number, limit: number): Promise<Message[]>;

  /** The newest messages with seq > floorSeq, newest first, at most `limit`. */
  latestMessages(tenant: string, sessionKey: string, floorSeq: number, limit: number): Promise<Message[]>;

  /** Deletes these messages of a thread (those that do not exist are ignored). */
  deleteMessages(tenant: string, sessionKey: string, seqs: number[]): Promise<void>;

  /**
   * Deletes, oldest first, the messages memory no longer shows: seq below `keepFromSeq` or created
   * before `olderThan`. At most `limit` per call (the next call continues). Returns how many.
   */
  trimHistory(
    tenant: string,
    sessionKey: string,
    options: { keepFromSeq: number; olderThan: string; limit: number },
  ): Promise<number>;

  /** Deletes messages with seq <= floorSeq (they already left memory). Idempotent. */
  trimMessages(tenant: string, sessionKey: string, floorSeq: number): Promise<void>;
}

/** The sparse index of live threads (and terminated ones whose deletion is pending), by shard. */
export interface LiveThreadIndex {
  /**
   * A page of live (not terminated) threads of one shard of the sparse index, least recently active
   * first; with `activeBefore`, only those whose lastActiveAt is earlier (the idle candidates).
   */
  listLive(shard: number, options: { cursor?: LiveCursor; pageSize: number; activeBefore?: string }): Promise<LivePage>;

  /**
   * Every live thread's agent and lease, read from the table itself with strongly consistent reads
   * (a Scan: only for reconciliation's recount, which must not see the index's lag).
   */
  liveThreadsConsistent(visit: (thread: Pick<Thread, 'agent' | 'lease'>) => void): Promise<void>;

  /** A cursor that resumes the thread's shard right after it (its place in the index as read). */
  liveCursorOf(thread: Thread): LiveCursor;
}

/** The per-agent and deployment counters that limits are checked against. */
export interface ThreadCounters {
  /** How many times each counter item changed (agents by name, the deployment under ""): read before a recount. */
  counterVersions(agents: string[]): Promise<Map<string, number>>;

  /** Sets an agent's (or with undefined, the deployment's) counters, only if it did not change since `observedChanges`. */
  repairCounters(
    agent: string | undefined,
    values: { activeThreads: number; runningTurns?: number },
    observedChanges: number,
  ): Promise<boolean>;

  /** Counters of the named agents plus the deployment total of live threads. */
  counters(agents: string[]): Promise<{ agents: Record<string, AgentCounters>; activeThreads: number }>;
}

/** The audit chains of thread incarnations (they outlive the thread's other items). */
export interface ThreadAuditTrail {
  /** The audit entries of one thread incarnation, in order. */
  auditTrail(tenant: string, sessionKey: string, threadId: string): Promise<AuditEntry[]>;
}

/** Persistence of threads, their audit chains and the agent counters: every thread port in one object. */
export interface ThreadStore extends ThreadRecords, ThreadMessages, LiveThreadIndex, ThreadCounters, ThreadAuditTrail {}
