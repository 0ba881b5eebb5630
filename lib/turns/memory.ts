import { durationMs } from '../config/duration.js';
import type { AgentConfig } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { ThreadStore } from '../threads/ports.js';
import type { Message } from './model.js';

/**
 * The part of a thread's history an agent sees: after the memory floor, at most maxTurns
 * exchanges, none older than maxAge, and no more than maxBytes of content (newest kept first).
 */
export async function loadMemory(
  store: ThreadStore,
  thread: Thread,
  memory: AgentConfig['memory'],
  now: Date,
  excludeSeq?: number,
): Promise<Message[]> {
  const newestFirst = await store.latestMessages(
    thread.tenant,
    thread.sessionKey,
    thread.memoryFloorSeq,
    memory.maxTurns * 2 + 1,
  );
  const oldest = now.getTime() - durationMs(memory.maxAge);
  const kept: Message[] = [];
  let bytes = 0;
  for (const message of newestFirst) {
    if (message.seq === excludeSeq) continue;
    if (kept.length >= memory.maxTurns * 2 || Date.parse(message.createdAt) < oldest) break;
    bytes += Buffer.byteLength(message.content, 'utf8');
    if (bytes > memory.maxBytes) break;
    kept.push(message);
  }
  return kept.reverse();
}
