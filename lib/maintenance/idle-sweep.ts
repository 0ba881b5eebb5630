import type { Principal } from '../auth/api-keys.js';
import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { LiveThreadIndex, ThreadRecords } from '../threads/ports.js';
import type { ThreadService } from '../threads/service.js';
import type { TurnService } from '../turns/service.js';
import { type WalkResult, walkLiveThreads } from './live-threads.js';
import type { SweepCursor } from './ports.js';

/** What one sweep run did: the walk (items read, errors, where the next run continues) and its effects. */
export interface SweepReport extends WalkResult {
  threadsCleaned: number;
  leasesReleased: number;
  durationMs: number;
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
  deps: { config: Config; store: LiveThreadIndex & ThreadRecords; threads: ThreadService; turns: TurnService },
  options: {
    now?: Date;
    cursor?: SweepCursor;
    maxItems?: number;
    budgetMs?: number;
    onError?: (error: unknown, sessionKey: string) => void;
  } = {},
): Promise<SweepReport> {
  const started = Date.now();
  const now = options.now ?? new Date();
  const idleTimeoutOf = (agent: string) =>
    durationMs(deps.config.agents[agent]?.idleTimeout ?? deps.config.threadManagement.idleTimeout);
  const shortest = Math.min(idleTimeoutOf(''), ...Object.keys(deps.config.agents).map(idleTimeoutOf));
  const report = { threadsCleaned: 0, leasesReleased: 0 };
  const walk = await walkLiveThreads(deps.store, visit, {
    activeBefore: new Date(now.getTime() - shortest).toISOString(),
    cursor: options.cursor,
    maxItems: options.maxItems ?? 2_000,
    budgetMs: options.budgetMs ?? 20_000,
    onError: options.onError,
  });
  return { ...walk, ...report, durationMs: Date.now() - started };

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
