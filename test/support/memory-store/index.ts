import { ComposedThreadStore } from '../../../lib/threads/composed-store.js';
import { MemoryThreadAuditTrail } from './audit-trail.js';
import { MemoryThreadCounters } from './counters.js';
import { MemoryLiveThreadIndex } from './live-index.js';
import { MemoryThreadMessages } from './messages.js';
import { MemoryThreadRecords } from './records.js';
import { MemoryTable } from './table.js';

export { MemoryTable } from './table.js';

/**
 * Every thread port in memory over one MemoryTable, for tests that need no DynamoDB. It keeps
 * DynamoDB's conditions, atomicity, orders and page semantics (test/contract holds it to them).
 */
export class MemoryThreadStore extends ComposedThreadStore {
  constructor(readonly table: MemoryTable = new MemoryTable()) {
    super({
      records: new MemoryThreadRecords(table),
      messages: new MemoryThreadMessages(table),
      liveIndex: new MemoryLiveThreadIndex(table),
      counters: new MemoryThreadCounters(table),
      auditTrail: new MemoryThreadAuditTrail(table),
    });
  }
}
