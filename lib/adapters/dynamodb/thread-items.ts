import type { Thread } from '../../threads/model.js';
import { stripKeys } from './audit-items.js';
import { keys } from './keys.js';
import { TABLE } from './table-definition.js';

/** The item a thread is stored as (keys and index keys included). */
export function threadItem(thread: Thread): Record<string, unknown> {
  const byTenant = TABLE.indexes.byTenant;
  const active = TABLE.indexes.activeByLastActive;
  return {
    ...keys.thread(thread.tenant, thread.sessionKey),
    kind: 'thread',
    ...thread,
    [byTenant.partitionKey]: keys.tenantIndex(thread.tenant),
    [byTenant.sortKey]: keys.tenantSort(thread.createdAt, thread.sessionKey),
    // Sparse index: only live threads (and ones whose deletion is pending) carry these keys, so the
    // idle sweep never reads the terminated ones.
    ...(thread.status === 'active' || thread.destroyPending
      ? {
          [active.partitionKey]: keys.activeIndex(thread.tenant, thread.sessionKey),
          [active.sortKey]: keys.activeSort(thread.lastActiveAt, thread.tenant, thread.sessionKey),
        }
      : {}),
  };
}

/** The thread a stored item holds. */
export function toThread(item: Record<string, unknown>): Thread {
  return stripKeys(item) as unknown as Thread;
}
