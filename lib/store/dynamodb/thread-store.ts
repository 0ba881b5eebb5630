import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Thread } from '../../threads/model.js';
import type {
  LiveThreadIndex,
  ThreadAuditTrail,
  ThreadCounters,
  ThreadMessages,
  ThreadRecords,
  ThreadStore,
} from '../../threads/ports.js';
import { DynamoLiveThreadIndex } from './live-thread-index.js';
import { DynamoThreadAuditTrail } from './thread-audit-trail.js';
import { DynamoThreadCounters } from './thread-counters.js';
import { threadItem } from './thread-items.js';
import { DynamoThreadMessages } from './thread-messages.js';
import { DynamoThreadRecords } from './thread-records.js';

export { LIMIT_RETRY_AFTER_SECONDS } from './thread-records.js';

/**
 * Every thread port on the single DynamoDB table, in one object for the services that take one
 * store. Each method delegates to its port's adapter (methods, not fields: a test can still wrap
 * one with Object.create).
 */
export class DynamoThreadStore implements ThreadStore {
  readonly records: ThreadRecords;
  readonly messageLog: ThreadMessages;
  readonly liveIndex: LiveThreadIndex;
  readonly counterLedger: ThreadCounters;
  readonly auditLog: ThreadAuditTrail;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.records = new DynamoThreadRecords(client, tableName);
    this.messageLog = new DynamoThreadMessages(client, tableName);
    this.liveIndex = new DynamoLiveThreadIndex(client, tableName);
    this.counterLedger = new DynamoThreadCounters(client, tableName);
    this.auditLog = new DynamoThreadAuditTrail(client, tableName);
  }

  create(...args: Parameters<ThreadRecords['create']>) {
    return this.records.create(...args);
  }
  get(...args: Parameters<ThreadRecords['get']>) {
    return this.records.get(...args);
  }
  transition(...args: Parameters<ThreadRecords['transition']>) {
    return this.records.transition(...args);
  }
  getTurn(...args: Parameters<ThreadRecords['getTurn']>) {
    return this.records.getTurn(...args);
  }
  queueHead(...args: Parameters<ThreadRecords['queueHead']>) {
    return this.records.queueHead(...args);
  }
  destroy(...args: Parameters<ThreadRecords['destroy']>) {
    return this.records.destroy(...args);
  }
  failQueuedTurns(...args: Parameters<ThreadRecords['failQueuedTurns']>) {
    return this.records.failQueuedTurns(...args);
  }
  listByTenant(...args: Parameters<ThreadRecords['listByTenant']>) {
    return this.records.listByTenant(...args);
  }

  messagesAfter(...args: Parameters<ThreadMessages['messagesAfter']>) {
    return this.messageLog.messagesAfter(...args);
  }
  latestMessages(...args: Parameters<ThreadMessages['latestMessages']>) {
    return this.messageLog.latestMessages(...args);
  }
  deleteMessages(...args: Parameters<ThreadMessages['deleteMessages']>) {
    return this.messageLog.deleteMessages(...args);
  }
  trimHistory(...args: Parameters<ThreadMessages['trimHistory']>) {
    return this.messageLog.trimHistory(...args);
  }
  trimMessages(...args: Parameters<ThreadMessages['trimMessages']>) {
    return this.messageLog.trimMessages(...args);
  }

  listLive(...args: Parameters<LiveThreadIndex['listLive']>) {
    return this.liveIndex.listLive(...args);
  }
  liveThreadsConsistent(...args: Parameters<LiveThreadIndex['liveThreadsConsistent']>) {
    return this.liveIndex.liveThreadsConsistent(...args);
  }
  liveCursorOf(...args: Parameters<LiveThreadIndex['liveCursorOf']>) {
    return this.liveIndex.liveCursorOf(...args);
  }

  counterVersions(...args: Parameters<ThreadCounters['counterVersions']>) {
    return this.counterLedger.counterVersions(...args);
  }
  repairCounters(...args: Parameters<ThreadCounters['repairCounters']>) {
    return this.counterLedger.repairCounters(...args);
  }
  counters(...args: Parameters<ThreadCounters['counters']>) {
    return this.counterLedger.counters(...args);
  }

  auditTrail(...args: Parameters<ThreadAuditTrail['auditTrail']>) {
    return this.auditLog.auditTrail(...args);
  }

  /** The item a thread is stored as (keys and index keys included); the benchmarks seed with it. */
  threadItem(thread: Thread): Record<string, unknown> {
    return threadItem(thread);
  }
}
