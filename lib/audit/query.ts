import type { AuditEntry, AuditEventType } from './chain.js';

/** Which audit events to return: a time window and optional filters. */
export interface AuditFilter {
  from: Date;
  to: Date;
  type?: AuditEventType;
  sessionKey?: string;
  agent?: string;
  tenant?: string;
  limit: number;
  /** The previous page's cursor. */
  cursor?: string;
}

/** One page of audit events, oldest first. */
export interface AuditPage {
  entries: AuditEntry[];
  cursor?: string;
}

/** Reads audit events across every chain by date (the audit date index). */
export interface AuditSearch {
  search(filter: AuditFilter): Promise<AuditPage>;
}

/** The cursor is not one the API returned. */
export class AuditCursorError extends Error {
  override readonly name = 'AuditCursorError';
  readonly code = 'invalid_cursor';
}
