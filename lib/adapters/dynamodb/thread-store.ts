import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ComposedThreadStore } from '../../threads/composed-store.js';
import type { Thread } from '../../threads/model.js';
import { DynamoLiveThreadIndex } from './live-thread-index.js';
import { DynamoThreadAuditTrail } from './thread-audit-trail.js';
import { DynamoThreadCounters } from './thread-counters.js';
import { threadItem } from './thread-items.js';
import { DynamoThreadMessages } from './thread-messages.js';
import { DynamoThreadRecords } from './thread-records.js';

export { LIMIT_RETRY_AFTER_SECONDS } from './thread-records.js';

/** Every thread port on the single DynamoDB table, in one object. */
export class DynamoThreadStore extends ComposedThreadStore {
  constructor(client: DynamoDBDocumentClient, tableName: string) {
    super({
      records: new DynamoThreadRecords(client, tableName),
      messages: new DynamoThreadMessages(client, tableName),
      liveIndex: new DynamoLiveThreadIndex(client, tableName),
      counters: new DynamoThreadCounters(client, tableName),
      auditTrail: new DynamoThreadAuditTrail(client, tableName),
    });
  }

  /** The item a thread is stored as (keys and index keys included); the benchmarks seed with it. */
  threadItem(thread: Thread): Record<string, unknown> {
    return threadItem(thread);
  }
}
