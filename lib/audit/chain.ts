import { createHash } from 'node:crypto';
import { processRedactor } from '../secrets/redactor.js';

/** Audit event types written so far; later areas add theirs. */
export type AuditEventType =
  | 'thread_spawn'
  | 'thread_restart'
  | 'thread_terminate'
  | 'thread_cleanup'
  | 'thread_moved'
  | 'agent_exec'
  | 'plan_refused'
  | 'secret_reveal'
  | 'secret_denied'
  | 'secret_refresh'
  | 'secret_rotated'
  | 'secret_rotation_failed'
  | 'tool_denied'
  | 'model_fallback'
  | 'agent_restart';

/** The hash a chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** An audit event before it is placed in a chain. */
export interface AuditEvent {
  type: AuditEventType;
  at: string;
  tenant?: string;
  actor?: string;
  sessionKey?: string;
  agent?: string;
  /** Event-specific facts; never a secret value. */
  data: Record<string, unknown>;
}

/** An audit event placed in its chain: seq and prevHash link it to the previous entry. */
export interface AuditEntry extends AuditEvent {
  /** The chain this entry belongs to (e.g. the thread incarnation). */
  chain: string;
  seq: number;
  prevHash: string;
  hash: string;
}

/** Serialises a value with object keys sorted, so the hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of an entry: sha256 over the previous hash and the entry's canonical JSON. */
export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(entry.prevHash).update('\n').update(canonicalJson(entry)).digest('hex');
}

/** Appends an event to a chain whose head is (seq, hash); known secret values are scrubbed before hashing. */
export function chainEntry(chain: string, head: { seq: number; hash: string }, event: AuditEvent): AuditEntry {
  const unhashed = { ...processRedactor.redactDeep(event), chain, seq: head.seq + 1, prevHash: head.hash };
  return { ...unhashed, hash: entryHash(unhashed) };
}
