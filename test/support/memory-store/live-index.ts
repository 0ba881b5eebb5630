import { keys } from '../../../lib/adapters/dynamodb/keys.js';
import type { Thread } from '../../../lib/threads/model.js';
import type { LiveCursor, LivePage, LiveThreadIndex } from '../../../lib/threads/ports.js';
import { requirePageSize } from './records.js';
import { compare, type MemoryTable, stripKind } from './table.js';

const PREFIX = 'memory-live:';

/** The sort key of a thread in the sparse index: lastActiveAt first, so idle candidates are a key range. */
function sortOf(thread: Pick<Thread, 'lastActiveAt' | 'tenant' | 'sessionKey'>): string {
  return keys.activeSort(thread.lastActiveAt, thread.tenant, thread.sessionKey);
}

/**
 * LiveThreadIndex in memory. The index is derived from the thread items on every read, so it has
 * no lag (DynamoDB's GSI may: the contract does not depend on it). A cursor is the shard and the
 * sort key of the last thread, behind a prefix; one it did not make, or one beyond `activeBefore`,
 * starts the shard over, as in the DynamoDB adapter.
 */
export class MemoryLiveThreadIndex implements LiveThreadIndex {
  constructor(private readonly table: MemoryTable) {}

  async listLive(
    shard: number,
    options: { cursor?: LiveCursor; pageSize: number; activeBefore?: string },
  ): Promise<LivePage> {
    requirePageSize(options.pageSize);
    const { activeBefore } = options;
    let after = options.cursor?.startsWith(`${PREFIX}${shard}:`)
      ? options.cursor.slice(`${PREFIX}${shard}:`.length)
      : undefined;
    if (after !== undefined && activeBefore !== undefined && compare(after, activeBefore) >= 0) after = undefined;
    const indexed = this.table
      .scan()
      .filter(({ sk, item }) => sk === 'META' && item.kind === 'thread')
      .map(({ item }) => stripKind<Thread>(item))
      // Sparse: live threads, and terminated ones whose deletion is pending.
      .filter((thread) => thread.status === 'active' || thread.destroyPending)
      .filter((thread) => keys.activeIndex(thread.tenant, thread.sessionKey) === keys.activeShard(shard))
      .map((thread) => ({ sort: sortOf(thread), thread }))
      .filter(({ sort }) => activeBefore === undefined || compare(sort, activeBefore) < 0)
      .filter(({ sort }) => after === undefined || compare(sort, after) > 0)
      .sort((a, b) => compare(a.sort, b.sort));
    const page = indexed.slice(0, options.pageSize);
    const last = page.at(-1);
    // Like a LastEvaluatedKey: present whenever the page reached its size.
    return {
      threads: page.map(({ thread }) => thread),
      ...(last && page.length === options.pageSize ? { cursor: `${PREFIX}${shard}:${last.sort}` } : {}),
    };
  }

  async liveThreadsConsistent(visit: (thread: Pick<Thread, 'agent' | 'lease'>) => void): Promise<void> {
    for (const { sk, item } of this.table.scan()) {
      if (sk !== 'META' || item.kind !== 'thread' || item.status !== 'active') continue;
      visit({ agent: item.agent as string, ...(item.lease ? { lease: item.lease as Thread['lease'] } : {}) });
    }
  }

  liveCursorOf(thread: Thread): LiveCursor {
    const shard = Number(keys.activeIndex(thread.tenant, thread.sessionKey).slice('ACTIVE#'.length));
    return `${PREFIX}${shard}:${sortOf(thread)}`;
  }
}
