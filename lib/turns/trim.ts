import { durationMs } from '../config/duration.js';
import type { AgentConfig } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { ThreadStore } from '../threads/ports.js';

/** Most messages one finish deletes from below the memory window (one BatchWriteItem). */
export const TRIM_BATCH = 25;

/** The messages one finish claims for deletion, and the trimmedThroughSeq it records. */
export interface TrimRange {
  seqs: number[];
  through: number;
}

/**
 * The messages that fell out of the maxTurns window since the last trim, claimed in the finish's
 * transaction (its version condition makes each range claimed once), at most one batch per finish.
 * `thread` is the thread as read; `messageSeq` its last message after the finish.
 */
export function trimRange(
  thread: Pick<Thread, 'messageSeq' | 'memoryFloorSeq' | 'trimmedThroughSeq'>,
  memory: AgentConfig['memory'] | undefined,
  messageSeq: number,
): TrimRange | undefined {
  if (!memory) return undefined;
  const keepFromSeq = messageSeq - 2 * memory.maxTurns + 1;
  // A thread from before trimmedThroughSeq existed starts where the old trim (the two seqs below
  // the window at each finish) had got to; whatever that left behind goes with its TTL.
  const from = Math.max(thread.trimmedThroughSeq ?? thread.messageSeq - 2 * memory.maxTurns, thread.memoryFloorSeq) + 1;
  const through = Math.min(keepFromSeq - 1, from + TRIM_BATCH - 1);
  if (through < from) return undefined;
  return { seqs: Array.from({ length: through - from + 1 }, (_, i) => from + i), through };
}

/**
 * Memory is temporary as configured: after each turn, messages beyond memory.maxTurns exchanges
 * (the range the finish claimed) or older than memory.maxAge are deleted (TTL on each message is
 * the safety net). Only a thread older than maxAge can hold a message older than maxAge, so only
 * then is the history read.
 */
export async function trimMemory(
  store: ThreadStore,
  thread: Thread,
  memory: AgentConfig['memory'] | undefined,
  fallen: number[],
  now: () => Date,
): Promise<void> {
  if (!memory) return;
  const keepFromSeq = thread.messageSeq - 2 * memory.maxTurns + 1;
  if (fallen.length > 0) await store.deleteMessages(thread.tenant, thread.sessionKey, fallen);
  const olderThan = new Date(now().getTime() - durationMs(memory.maxAge)).toISOString();
  if (thread.createdAt < olderThan)
    await store.trimHistory(thread.tenant, thread.sessionKey, { keepFromSeq, olderThan, limit: TRIM_BATCH });
}
