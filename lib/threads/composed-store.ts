import type {
  LiveThreadIndex,
  ThreadAuditTrail,
  ThreadCounters,
  ThreadMessages,
  ThreadRecords,
  ThreadStore,
} from './ports.js';

/** One adapter per thread port. */
export interface ThreadStorePorts {
  records: ThreadRecords;
  messages: ThreadMessages;
  liveIndex: LiveThreadIndex;
  counters: ThreadCounters;
  auditTrail: ThreadAuditTrail;
}

/**
 * A ThreadStore made of one adapter per port, for the services that take one store object. Each
 * method delegates to its port (methods, not fields: a test can still wrap one with Object.create).
 */
export class ComposedThreadStore implements ThreadStore {
  constructor(readonly ports: ThreadStorePorts) {}

  create(...args: Parameters<ThreadRecords['create']>) {
    return this.ports.records.create(...args);
  }
  get(...args: Parameters<ThreadRecords['get']>) {
    return this.ports.records.get(...args);
  }
  transition(...args: Parameters<ThreadRecords['transition']>) {
    return this.ports.records.transition(...args);
  }
  getTurn(...args: Parameters<ThreadRecords['getTurn']>) {
    return this.ports.records.getTurn(...args);
  }
  queueHead(...args: Parameters<ThreadRecords['queueHead']>) {
    return this.ports.records.queueHead(...args);
  }
  destroy(...args: Parameters<ThreadRecords['destroy']>) {
    return this.ports.records.destroy(...args);
  }
  failQueuedTurns(...args: Parameters<ThreadRecords['failQueuedTurns']>) {
    return this.ports.records.failQueuedTurns(...args);
  }
  listByTenant(...args: Parameters<ThreadRecords['listByTenant']>) {
    return this.ports.records.listByTenant(...args);
  }

  messagesAfter(...args: Parameters<ThreadMessages['messagesAfter']>) {
    return this.ports.messages.messagesAfter(...args);
  }
  latestMessages(...args: Parameters<ThreadMessages['latestMessages']>) {
    return this.ports.messages.latestMessages(...args);
  }
  deleteMessages(...args: Parameters<ThreadMessages['deleteMessages']>) {
    return this.ports.messages.deleteMessages(...args);
  }
  trimHistory(...args: Parameters<ThreadMessages['trimHistory']>) {
    return this.ports.messages.trimHistory(...args);
  }
  trimMessages(...args: Parameters<ThreadMessages['trimMessages']>) {
    return this.ports.messages.trimMessages(...args);
  }

  listLive(...args: Parameters<LiveThreadIndex['listLive']>) {
    return this.ports.liveIndex.listLive(...args);
  }
  liveThreadsConsistent(...args: Parameters<LiveThreadIndex['liveThreadsConsistent']>) {
    return this.ports.liveIndex.liveThreadsConsistent(...args);
  }
  liveCursorOf(...args: Parameters<LiveThreadIndex['liveCursorOf']>) {
    return this.ports.liveIndex.liveCursorOf(...args);
  }

  counterVersions(...args: Parameters<ThreadCounters['counterVersions']>) {
    return this.ports.counters.counterVersions(...args);
  }
  repairCounters(...args: Parameters<ThreadCounters['repairCounters']>) {
    return this.ports.counters.repairCounters(...args);
  }
  counters(...args: Parameters<ThreadCounters['counters']>) {
    return this.ports.counters.counters(...args);
  }

  auditTrail(...args: Parameters<ThreadAuditTrail['auditTrail']>) {
    return this.ports.auditTrail.auditTrail(...args);
  }
}
