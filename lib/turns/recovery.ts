import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import type { SweepCursor } from '../maintenance/ports.js';
import { INDEX_SHARDS, TABLE } from '../table/definition.js';
import type { ThreadStore } from '../threads/ports.js';
import type { TurnService } from './service.js';

/** The shortest lease any agent's turn can hold (3 × timeout + 5 s, see TurnService). */
function shortestLeaseMs(config: Config): number {
  return Math.min(...Object.values(config.agents).map((agent) => 3 * durationMs(agent.timeout) + 5_000));
}

/**
 * One bounded pass over the live threads (the sparse index, every shard) recovering those whose
 * lease has expired or whose queue is stranded. A lease is taken when the thread becomes active, so
 * only threads inactive for longer than the shortest lease can hold an expired one: only those are
 * read. Stops after `budgetMs`, returning where the next pass continues.
 */
export async function recoverStaleTurns(
  config: Config,
  store: ThreadStore,
  turns: TurnService,
  options: { now?: Date; cursor?: SweepCursor; budgetMs?: number; onError?: (error: unknown, sessionKey: string) => void } = {},
): Promise<{ changed: number; cursor?: SweepCursor }> {
  const { now = new Date(), onError, budgetMs = 40_000 } = options;
  const started = Date.now();
  const activeBefore = new Date(now.getTime() - shortestLeaseMs(config)).toISOString();
  let changed = 0;
  for (let shard = options.cursor?.shard ?? 0; shard < INDEX_SHARDS; shard += 1) {
    let cursor = shard === options.cursor?.shard ? options.cursor.key : undefined;
    if (cursor && String(cursor[TABLE.indexes.activeByLastActive.sortKey]) >= activeBefore) cursor = undefined;
    do {
      if (Date.now() - started > budgetMs) return { changed, cursor: { shard, ...(cursor ? { key: cursor } : {}) } };
      const page = await store.listLive(shard, { cursor, pageSize: 100, activeBefore });
      for (const thread of page.threads) {
        const stuck = thread.lease ? Date.parse(thread.lease.leaseExpiresAt) <= now.getTime() : thread.queuedTurns > 0;
        if (!stuck || thread.status !== 'active') continue;
        try {
          if ((await turns.recover(thread.tenant, thread.sessionKey)) !== 'none') changed += 1;
        } catch (error) {
          // One thread that cannot be recovered (e.g. its agent left the config) must not stop the pass.
          onError?.(error, thread.sessionKey);
        }
      }
      cursor = page.cursor;
    } while (cursor);
  }
  return { changed };
}
