import type { Principal } from '../auth/api-keys.js';
import type { Config } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { LiveThreadIndex, ThreadCounters, ThreadRecords } from '../threads/ports.js';
import type { ThreadService } from '../threads/service.js';
import type { TurnService } from '../turns/service.js';
import { walkLiveThreads } from './live-threads.js';

/** What a reconciliation run found and did. */
export interface ReconcileReport {
  threadsSeen: number;
  leasesReleased: number;
  threadsTerminated: number;
  threadsMoved: number;
  countersRepaired: { agent: string; field: 'activeThreads' | 'runningTurns'; from: number; to: number }[];
  /** Counters that changed while they were recounted: left for the next run. */
  countersSkipped: string[];
  /** Agents with more live threads than a lowered maxActiveThreads allows (new spawns are refused until below). */
  overLimit: { agent: string; activeThreads: number; maxActiveThreads: number }[];
  /** Threads left for a later run because a turn was running (never interrupted). */
  deferred: number;
  /** Threads that could not be handled (reported through onError; the run went on). */
  errors: number;
}

/** The identity reconciliation acts as in audit entries. */
export const RECONCILE_ACTOR = 'system:reconcile';

/**
 * Startup reconciliation (after every deploy, and at local start): brings the threads in line with
 * the current config and the counters in line with the threads.
 * 1. Each live thread: an orphaned or expired lease is released; a thread of an agent that was
 *    renamed (`renamedFrom`) moves to the new name; one of an agent that was removed is terminated
 *    with the reason. Threads running a turn are left for a later run.
 * 2. The counters are recounted from the threads and repaired with conditional writes that only
 *    land if no counter changed during the count.
 */
export async function reconcile(
  deps: {
    config: Config;
    store: LiveThreadIndex & ThreadCounters & ThreadRecords;
    threads: ThreadService;
    turns: TurnService;
  },
  options: { onError?: (error: unknown, sessionKey: string) => void } = {},
): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    threadsSeen: 0,
    leasesReleased: 0,
    threadsTerminated: 0,
    threadsMoved: 0,
    countersRepaired: [],
    countersSkipped: [],
    overLimit: [],
    deferred: 0,
    errors: 0,
  };
  const renamedTo = new Map(
    Object.entries(deps.config.agents).flatMap(([name, agent]) => agent.renamedFrom.map((old) => [old, name] as const)),
  );

  const walk = await walkLiveThreads(deps.store, reconcileThread, { onError: options.onError });
  report.threadsSeen = walk.itemsRead;
  report.errors = walk.errors;

  async function reconcileThread(thread: Thread): Promise<void> {
    if (thread.status === 'terminated') return; // a pending deletion: the idle sweep finishes it
    // An orphaned or expired lease is released (recover leaves a live one alone).
    if (thread.lease && (await deps.turns.recover(thread.tenant, thread.sessionKey)) !== 'none')
      report.leasesReleased += 1;
    if (thread.agent in deps.config.agents) return;
    const fresh = await deps.store.get(thread.tenant, thread.sessionKey);
    if (!fresh || fresh.status === 'terminated') return;
    if (fresh.lease) {
      report.deferred += 1; // a running turn is never interrupted
      return;
    }
    const target = renamedTo.get(fresh.agent);
    if (target) {
      if (await deps.threads.moveToAgent(fresh.tenant, fresh.sessionKey, target, RECONCILE_ACTOR))
        report.threadsMoved += 1;
      return;
    }
    const system: Principal = { tenant: fresh.tenant, admin: true, keyId: RECONCILE_ACTOR };
    const result = await deps.threads.terminate(system, fresh.sessionKey, {
      reason: `agent "${fresh.agent}" was removed from the configuration`,
      auditType: 'thread_cleanup',
      onlyIfIdleSince: fresh.lastActiveAt,
    });
    if (result.changed) report.threadsTerminated += 1;
    else report.deferred += 1;
  }

  await repairCounters(deps, report);
  return report;
}

/** What a counter repair found and did (the part of a ReconcileReport it fills). */
export type CounterRepair = Pick<ReconcileReport, 'countersRepaired' | 'countersSkipped' | 'overLimit'>;

/**
 * Recounts live threads and held leases per configured agent (with `only`, just those agents and not
 * the deployment total: `agents restart`), then repairs what differs. The
 * recount reads the table itself, strongly consistent: the index may lag behind a spawn or a claim
 * that already bumped the counter, and a repair from a stale count would set a counter below what
 * is held, so that the next release is refused. Counter versions are read before the count.
 * Counters of agents no longer configured are not repaired (they limit nothing).
 */
export async function repairCounters(
  deps: { config: Config; store: LiveThreadIndex & ThreadCounters },
  report: CounterRepair,
  options: { only?: string[] } = {},
): Promise<void> {
  const configured = Object.keys(deps.config.agents).filter((agent) => !options.only || options.only.includes(agent));
  const versions = await deps.store.counterVersions(configured);
  const counted = new Map(configured.map((agent) => [agent, { activeThreads: 0, runningTurns: 0 }]));
  let total = 0;
  await deps.store.liveThreadsConsistent((thread) => {
    total += 1;
    const entry = counted.get(thread.agent);
    if (!entry) return;
    entry.activeThreads += 1;
    if (thread.lease) entry.runningTurns += 1;
  });
  const stored = await deps.store.counters(configured);

  for (const [agent, count] of counted) {
    const current = stored.agents[agent] ?? { activeThreads: 0, runningTurns: 0, timedOutTurns: 0 };
    const max = deps.config.agents[agent]!.maxActiveThreads;
    if (count.activeThreads > max)
      report.overLimit.push({ agent, activeThreads: count.activeThreads, maxActiveThreads: max });
    if (current.activeThreads === count.activeThreads && current.runningTurns === count.runningTurns) continue;
    if (await deps.store.repairCounters(agent, count, versions.get(agent) ?? 0)) {
      for (const field of ['activeThreads', 'runningTurns'] as const) {
        if (current[field] !== count[field])
          report.countersRepaired.push({ agent, field, from: current[field], to: count[field] });
      }
    } else {
      report.countersSkipped.push(agent);
    }
  }
  if (!options.only && stored.activeThreads !== total) {
    if (await deps.store.repairCounters(undefined, { activeThreads: total }, versions.get('') ?? 0)) {
      report.countersRepaired.push({
        agent: '(deployment)',
        field: 'activeThreads',
        from: stored.activeThreads,
        to: total,
      });
    } else {
      report.countersSkipped.push('(deployment)');
    }
  }
}
