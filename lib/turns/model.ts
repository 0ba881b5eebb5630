import type { PhaseTrace, TurnTrace } from './trace.js';

/** Lifecycle of a turn. */
export type TurnStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out';

/** What became of one sub-agent of a turn. */
export interface SubAgentOutcome {
  agent: string;
  /** The child thread the sub-agent ran in: `<sessionKey>:<agent>`. */
  sessionKey: string;
  /** The child turn (absent for an item whose Lambda failed before answering: the workflow knows only its thread). */
  turnId?: string;
  status: 'succeeded' | 'failed' | 'timed_out';
  reply?: string;
  error?: string;
  startedAt?: string;
  endedAt?: string;
  /** endedAt − startedAt, when both are known. */
  durationMs?: number;
  /** How the sub-agent's phase ran (its child turn keeps the same trace). */
  trace?: PhaseTrace;
}

/**
 * One turn of a thread: a user input and, once done, exactly one reply. Its execution is named by
 * its turnId (execution names are unique, so starting it twice starts one).
 */
export interface Turn {
  tenant: string;
  sessionKey: string;
  threadId: string;
  turnId: string;
  agent: string;
  status: TurnStatus;
  input: string;
  idempotencyKey?: string;
  /** The thread generation the turn was accepted under. */
  generation: number;
  /** The thread's fencing token while this turn held the lease. */
  fencingToken?: number;
  /** Position in the thread's queue (onBusy: enqueue). */
  queueSeq?: number;
  userSeq?: number;
  replySeq?: number;
  reply?: string;
  error?: string;
  subAgents?: SubAgentOutcome[];
  /** How the turn ran (lib/turns/trace.ts): recorded when it finishes, kept by a failure. */
  trace?: TurnTrace;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
}

/** One message of a thread's history. */
export interface Message {
  seq: number;
  role: 'user' | 'assistant';
  content: string;
  turnId: string;
  agent: string;
  createdAt: string;
  /** Epoch seconds after which DynamoDB's TTL may delete it (createdAt + memory.maxAge): a safety net for the trim. */
  expiresAt?: number;
}

/** Statuses after which a turn never changes again. */
export const FINAL_STATUSES: readonly TurnStatus[] = ['succeeded', 'failed', 'timed_out'];
