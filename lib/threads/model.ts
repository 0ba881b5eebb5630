/** Stored lifecycle state of a thread; "idle" is derived when it is read (see displayStatus). */
export type StoredThreadStatus = 'active' | 'terminated';
/** What a client sees: a live thread past its idle timeout reads as "idle" until the sweep ends it. */
export type ThreadStatus = 'active' | 'idle' | 'terminated';

/** The lease a running turn holds on its thread (turns run one at a time per thread). */
export interface ThreadLease {
  turnId: string;
  leaseExpiresAt: string;
  /** Monotonic per thread: a write carrying an older token than the thread's is from a stale holder. */
  fencingToken: number;
}

/** Where a child thread came from (sub-agent threads). */
export interface ThreadLineage {
  parentSessionKey: string;
  parentTurnId: string;
  depth: number;
}

/** A thread as the domain sees it. */
export interface Thread {
  tenant: string;
  sessionKey: string;
  /** Identifies this incarnation of the sessionKey (a key may be reused after auto-destroy). */
  threadId: string;
  agent: string;
  /** The agent's mode when the thread was spawned. */
  mode: 'thread-bound' | 'singleton';
  status: StoredThreadStatus;
  /** Bumped by every restart; a turn started under an older generation may not write. */
  generation: number;
  /** Optimistic lock: every update is conditional on the version it read. */
  version: number;
  createdAt: string;
  lastActiveAt: string;
  terminatedAt?: string;
  terminationReason?: string;
  turnCount: number;
  /** Highest message sequence number used in this thread. */
  messageSeq: number;
  /** Messages with seq <= this are no longer part of memory (restart with clearMemory). */
  memoryFloorSeq: number;
  /**
   * Messages with seq <= this have been claimed by a finish's trim (absent on older threads). The
   * trim deletes the range since the last one, so a window that moved by more than one exchange (a
   * turn failed without a reply) leaves nothing behind.
   */
  trimmedThroughSeq?: number;
  /** Last queue position handed out (onBusy: enqueue); the queue itself is QUEUE# items. */
  queueSeq: number;
  /** How many turns wait in the queue. */
  queuedTurns: number;
  /** Last fencing token handed to a lease holder. */
  fencingSeq: number;
  lineage?: ThreadLineage;
  lease?: ThreadLease;
  metadata: Record<string, string>;
  /**
   * Terminated with autoDestroy but not yet deleted: the thread keeps its place in the sparse index
   * until then, so the idle sweep finishes a deletion that was interrupted.
   */
  destroyPending?: boolean;
  /** Head of this thread's audit hash chain. */
  auditSeq: number;
  auditHash: string;
}

/** The status a client sees, given the thread's idle timeout. */
export function displayStatus(
  thread: Pick<Thread, 'status' | 'lastActiveAt' | 'lease'>,
  idleTimeoutMs: number,
  now: Date,
): ThreadStatus {
  if (thread.status === 'terminated') return 'terminated';
  if (thread.lease) return 'active';
  return now.getTime() - Date.parse(thread.lastActiveAt) > idleTimeoutMs ? 'idle' : 'active';
}
