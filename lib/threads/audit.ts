import { type AuditEntry, type AuditEvent, chainEntry } from '../audit/chain.js';
import type { Thread } from './model.js';

/** The next entry of a thread's audit chain (its head is kept on the thread item). */
export function nextAuditEntry(thread: Thread, event: Omit<AuditEvent, 'sessionKey' | 'agent'>): AuditEntry {
  return chainEntry(
    thread.threadId,
    { seq: thread.auditSeq, hash: thread.auditHash },
    { ...event, sessionKey: thread.sessionKey, agent: thread.agent },
  );
}

/** The thread after appending `entry` to its chain. */
export function withAuditHead(thread: Thread, entry: AuditEntry): Thread {
  return { ...thread, auditSeq: entry.seq, auditHash: entry.hash };
}
