import { keys } from '../../../lib/adapters/dynamodb/keys.js';
import type { AuditEntry } from '../../../lib/audit/chain.js';
import type { ThreadAuditTrail } from '../../../lib/threads/ports.js';
import { type MemoryTable, stripKind } from './table.js';

/** ThreadAuditTrail in memory: the `AUDIT#<threadId>#<seq>` items of the thread's partition, in key order. */
export class MemoryThreadAuditTrail implements ThreadAuditTrail {
  constructor(private readonly table: MemoryTable) {}

  async auditTrail(tenant: string, sessionKey: string, threadId: string): Promise<AuditEntry[]> {
    const prefix = `AUDIT#${threadId}#`;
    return this.table
      .query(keys.threadPk(tenant, sessionKey), (sk) => sk.startsWith(prefix))
      .map(({ item }) => stripKind<AuditEntry>(item));
  }
}
