import type { Principal } from '../auth/api-keys.js';
import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import { INDEX_SHARDS, TABLE } from '../table/definition.js';
import type { Thread } from '../threads/model.js';
import type { ThreadStore } from '../threads/ports.js';
import type { ThreadService } from '../threads/service.js';
import type { TurnService } from '../turns/service.js';
import type { SweepCursor } from './ports.js';

/** What one sweep run did. */
export interface SweepReport {
  /** Thread items read from the index (the sweep's cost). */
  itemsRead: number;
  threadsCleaned: number;
  leasesReleased: number;
  /** Threads that could not be handled (reported through onError; the run went on). */
  errors: number;
  durationMs: number;
  /** Where the next run continues; absent when this run reached the end of the index. */
  cursor?: SweepCursor;
}

/** The identity the sweep acts as in audit entries. */
export const SWEEP_ACTOR = 'system:idle-sweep';

/**
 * One bounded run of the idle sweep. It reads only idle candidates: the sparse index holds live
 * threads sorted by lastActiveAt, so "inactive for longer than the shortest idle timeout" is a key
 * range per shard. A thread with a running turn is never touched (an expired lease is released
 * instead); one idle past its agent's idleTimeout is terminated, or destroyed with autoDestroy.
 * Stops after `maxItems` items or `budgetMs`, returning the cursor the next run starts from.
 */
export async function sweepIdleThreads(
  deps: { config: Config; store: ThreadStore; threads: ThreadService; turns: TurnService },
  options: { now?: Date; cursor?: SweepCursor; maxItems?: number; budgetMs?: number; onError?: (error: unknown, sessionKey: string) => void } = {},
): Promise<SweepReport> {
  const started = Date.now();
  const now = options.now ?? new Date();
  const maxItems = options.maxItems ?? 2_000;
  const budgetMs = options.budgetMs ?? 20_000;
  const idleTimeoutOf = (agent: string) => durationMs(deps.config.agents[agent]?.idleTimeout ?? deps.config.threadManagement.idleTimeout);
  const shortest = Math.min(idleTimeoutOf(''), ...Object.keys(deps.config.agents).map(idleTimeoutOf));
  const activeBefore = new Date(now.getTime() - shortest).toISOString();
  const report: SweepReport = { itemsRead: 0, threadsCleaned: 0, leasesReleased: 0, errors: 0, durationMs: 0 };

  for (let shard = options.cursor?.shard ?? 0; shard < INDEX_SHARDS; shard += 1) {
    let key = shard === options.cursor?.shard ? options.cursor.key : undefined;
    // A cursor from a run with a longer idle timeout may lie beyond this run's key range: restart the shard.
    if (key && String(key[TABLE.indexes.activeByLastActive.sortKey]) >= activeBefore) key = undefined;
    do {
      const page = await deps.store.listLive(shard, { activeBefore, cursor: key, pageSize: Math.min(100, maxItems - report.itemsRead) });
      for (const thread of page.threads) {
        // Bounded per thread, so one run never outlives its budget by a whole page of deletions.
        if (report.itemsRead >= maxItems || Date.now() - started > budgetMs) {
          return { ...report, durationMs: Date.now() - started, cursor: { shard, ...(key ? { key } : {}) } };
        }
        report.itemsRead += 1;
        try {
          await visit(thread);
        } catch (error) {
          // One thread that cannot be handled (e.g. its agent left the config) must not stop the sweep.
          report.errors += 1;
          options.onError?.(error, thread.sessionKey);
        }
        key = deps.store.liveCursorOf(thread);
      }
      key = page.cursor;
    } while (key && report.itemsRead < maxItems);
    if (key) return { ...report, durationMs: Date.now() - started, cursor: { shard, key } };
  }
  return { ...report, durationMs: Date.now() - started };

  async function visit(thread: Thread): Promise<void> {
    const system: Principal = { tenant: thread.tenant, admin: true, keyId: SWEEP_ACTOR };
    if (thread.status === 'terminated') {
      // An auto-destroy that was interrupted: a repeated terminate finishes the deletion.
      await deps.threads.terminate(system, thread.sessionKey);
      return;
    }
    // Sub-agent threads live and end with their parent (terminating it terminates them); one whose
    // parent is gone (a terminate that died before reaching its children) is ended here.
    if (thread.lineage) {
      const parent = await deps.store.get(thread.tenant, thread.lineage.parentSessionKey);
      if (parent?.status === 'active') return;
      const result = await deps.threads.terminate(system, thread.sessionKey, {
        reason: `its parent thread "${thread.lineage.parentSessionKey}" was terminated`,
        auditType: 'thread_cleanup',
        onlyIfIdleSince: thread.lastActiveAt,
      });
      if (result.changed) report.threadsCleaned += 1;
      return;
    }
    if (thread.lease || thread.queuedTurns > 0) {
      // A running turn is never interrupted; a dead one's lease is released (or passed to the queue).
      if (!thread.lease || Date.parse(thread.lease.leaseExpiresAt) <= now.getTime()) {
        if ((await deps.turns.recover(thread.tenant, thread.sessionKey)) !== 'none') report.leasesReleased += 1;
      }
      // Queued turns will run, unless their agent left the config: then the thread is ended as idle.
      if (thread.lease || thread.agent in deps.config.agents) return;
    }
    const idleFor = now.getTime() - Date.parse(thread.lastActiveAt);
    if (idleFor <= idleTimeoutOf(thread.agent)) return;
    const result = await deps.threads.terminate(system, thread.sessionKey, {
      reason: `idle for more than ${deps.config.agents[thread.agent]?.idleTimeout ?? deps.config.threadManagement.idleTimeout}`,
      auditType: 'thread_cleanup',
      onlyIfIdleSince: thread.lastActiveAt,
    });
    if (result.changed) report.threadsCleaned += 1;
  }
}
