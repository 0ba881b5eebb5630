import { INDEX_SHARDS } from '../adapters/dynamodb/table-definition.js';
import type { Thread } from '../threads/model.js';
import type { LiveCursor, LiveThreadIndex } from '../threads/ports.js';
import { resumeCursor } from './cursor.js';
import type { SweepCursor } from './ports.js';

/** How a walk over the live-thread index ended. */
export interface WalkResult {
  itemsRead: number;
  /** Threads whose visit threw (each reported through onError; the walk went on). */
  errors: number;
  /** Where the next walk continues; absent when this one reached the end of the index. */
  cursor?: SweepCursor;
}

/**
 * Visits the live threads of the sparse index, every shard, least recently active first; with
 * `activeBefore`, only those inactive since before it (a key range: no filter, no Scan). Starts at
 * `cursor` and stops before a thread once `maxItems` were read or `budgetMs` passed (after at least one), returning where
 * the next walk continues. A thread whose visit throws is reported and the walk goes on.
 */
export async function walkLiveThreads(
  store: LiveThreadIndex,
  visit: (thread: Thread) => Promise<void>,
  options: {
    activeBefore?: string;
    cursor?: SweepCursor;
    maxItems?: number;
    budgetMs?: number;
    onError?: (error: unknown, sessionKey: string) => void;
  } = {},
): Promise<WalkResult> {
  const started = Date.now();
  const { activeBefore, maxItems = Number.POSITIVE_INFINITY, budgetMs = Number.POSITIVE_INFINITY } = options;
  const result: WalkResult = { itemsRead: 0, errors: 0 };
  for (let shard = options.cursor?.shard ?? 0; shard < INDEX_SHARDS; shard += 1) {
    // A cursor from a walk over a wider range (e.g. before idleTimeout was raised) starts the shard over (the store sees to it).
    let key: LiveCursor | undefined = shard === options.cursor?.shard ? resumeCursor(options.cursor) : undefined;
    do {
      const page = await store.listLive(shard, {
        activeBefore,
        cursor: key,
        pageSize: Math.min(100, maxItems - result.itemsRead),
      });
      for (const thread of page.threads) {
        // Bounded per thread, so a walk never outlives its budget by a whole page of work; the first
        // thread is always visited, so a walk continued from its cursor always moves on.
        if (result.itemsRead >= maxItems || (result.itemsRead > 0 && Date.now() - started > budgetMs))
          return { ...result, cursor: { shard, ...(key ? { key } : {}) } };
        result.itemsRead += 1;
        try {
          await visit(thread);
        } catch (error) {
          result.errors += 1;
          options.onError?.(error, thread.sessionKey);
        }
        key = store.liveCursorOf(thread);
      }
      key = page.cursor;
    } while (key && result.itemsRead < maxItems);
    if (key) return { ...result, cursor: { shard, key } };
  }
  return result;
}
