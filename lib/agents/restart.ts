import type { Principal } from '../auth/api-keys.js';
import type { Config } from '../config/schema.js';
import { walkLiveThreads } from '../maintenance/live-threads.js';
import { repairCounters, type CounterRepair } from '../maintenance/reconcile.js';
import { needsRecovery } from '../maintenance/turn-recovery.js';
import { nextAuditEntry } from '../threads/audit.js';
import type { Thread } from '../threads/model.js';
import type { ThreadStore } from '../threads/ports.js';
import { OPTIMISTIC_ATTEMPTS, optimisticBackoff } from '../threads/optimistic.js';
import type { TurnService } from '../turns/service.js';

/** What `POST /v1/agents/{name}/restart` found and did. */
export interface AgentRestartReport extends CounterRepair {
  agent: string;
  /** Whether turns still within their lease were restarted too. */
  force: boolean;
  /** When the restart began: with force, only turns started before it are restarted. */
  startedAt: string;
  /** Live threads of the agent visited (every tenant's). */
  threadsSeen: number;
  /** Leases taken from turns that will not finish (expired, orphaned, or forced). */
  leasesReleased: number;
  /** Running turns this restart marked failed (each one exactly once, whoever else tries). */
  turnsFailed: number;
  /** Queued turns started because a lease was released or a queue was stranded. */
  turnsStarted: number;
  /** Threads that could not be handled (logged by the caller); the walk went on. */
  errors: number;
  /** False when the time budget ran out before every live thread was visited: run it again. */
  complete: boolean;
}

/** The error a turn released by an agent restart is failed with. */
export const AGENT_RESTART_ERROR = 'the agent was restarted while this turn was running';

/** What the restart needs (the same services as the API and the maintenance jobs). */
export interface AgentRestartDeps {
  config: Config;
  store: ThreadStore;
  turns: TurnService;
}

/**
 * Restarts one agent's stuck work across every tenant (an operator action; the route is admin):
 * 1. its counters are re-derived from the threads (reconcile's recount, this agent only) first,
 *    so releases below start from counts that match the leases held (a drifted counter would
 *    refuse the decrement of a release);
 * 2. every live thread of the agent is visited: an expired or orphaned lease is released through
 *    TurnService.recover (its running turn failed, its slot given back or handed to the next queued
 *    turn) and a stranded queue is started; with `force`, a turn still within its lease that started
 *    before this restart is failed too and its thread restarted (generation + 1, audited).
 * Every change is a conditional transition on the version it read, so two restarts running at once
 * release each lease, fail each turn and give back each slot exactly once.
 * Returns undefined when the config has no such agent.
 */
export async function restartAgent(
  deps: AgentRestartDeps,
  name: string,
  options: { principal: Principal; force?: boolean; now?: () => Date; budgetMs?: number; onError?: (error: unknown, sessionKey: string) => void },
): Promise<AgentRestartReport | undefined> {
  if (!Object.hasOwn(deps.config.agents, name)) return undefined;
  const now = options.now ?? (() => new Date());
  const started = Date.now();
  const budgetMs = options.budgetMs ?? 20_000;
  const startedAt = now();
  const report: AgentRestartReport = {
    agent: name,
    force: options.force === true,
    startedAt: startedAt.toISOString(),
    threadsSeen: 0,
    leasesReleased: 0,
    turnsFailed: 0,
    turnsStarted: 0,
    countersRepaired: [],
    countersSkipped: [],
    overLimit: [],
    errors: 0,
    complete: true,
  };

  await repairCounters(deps, report, { only: [name] });

  // Every live thread, not only those inactive longer than a lease: a stranded queue or (with
  // force) a running turn may be on a recently active thread. Bounded by maxThreads and the budget.
  const walk = await walkLiveThreads(
    deps.store,
    async (thread) => {
      if (thread.agent !== name || thread.status !== 'active') return;
      report.threadsSeen += 1;
      if (needsRecovery(thread, now())) await recover(thread);
      else if (thread.lease) {
        // A live lease: recover still releases it if its turn is already final or missing (an orphan).
        if (!(await recover(thread)) && report.force) await forceRestart(thread.tenant, thread.sessionKey, thread.lease.turnId);
      }
    },
    { budgetMs: Math.max(1_000, budgetMs - (Date.now() - started)), onError: options.onError },
  );
  report.errors = walk.errors;
  report.complete = walk.cursor === undefined;
  return report;

  /** TurnService.recover, counting what it changed; true when it changed anything. */
  async function recover(thread: Thread): Promise<boolean> {
    const leased = thread.lease && (await deps.store.getTurn(thread.tenant, thread.sessionKey, thread.lease.turnId));
    const result = await deps.turns.recover(thread.tenant, thread.sessionKey);
    if (result === 'none') return false;
    if (thread.lease) report.leasesReleased += 1;
    if (result === 'started') report.turnsStarted += 1;
    // Failed by this call: it was running when read, and the release that won failed it.
    if (leased && leased.status === 'running') {
      const after = await deps.store.getTurn(thread.tenant, thread.sessionKey, leased.turnId);
      if (after?.status === 'failed') report.turnsFailed += 1;
    }
    return true;
  }

  /**
   * Takes the lease from a turn still within it (force), fails that turn and restarts the thread,
   * then starts its next queued turn. Only the lease of `turnId` as observed, and only a turn that
   * began before this restart: a turn started afterwards (from the queue this restart freed, or by a
   * client) is new work, left alone, so a second restart at the same time changes nothing twice.
   */
  async function forceRestart(tenant: string, sessionKey: string, turnId: string): Promise<void> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const thread = await deps.store.get(tenant, sessionKey);
      if (!thread || thread.status !== 'active' || thread.lease?.turnId !== turnId) return;
      const turn = await deps.store.getTurn(tenant, sessionKey, turnId);
      if (!turn || turn.status !== 'running' || !turn.startedAt || turn.startedAt > report.startedAt) return;
      const at = now().toISOString();
      const audit = nextAuditEntry(thread, {
        type: 'thread_restart',
        at,
        tenant,
        actor: options.principal.keyId,
        data: { generation: thread.generation + 1, clearMemory: false, releasedTurnId: turnId, agentRestart: true },
      });
      // lastActiveAt is kept: an operator's restart is no activity of the thread (and keeps its place in the walk).
      const after: Thread = { ...thread, generation: thread.generation + 1, version: thread.version + 1, lease: undefined, auditSeq: audit.seq, auditHash: audit.hash };
      // Conditional on the version read: of two restarts, or a restart and the turn's own finish,
      // exactly one changes the thread; the loser re-reads and finds the lease gone.
      const outcome = await deps.store.transition(thread, after, audit, [{ agent: thread.agent, runningTurns: -1 }], [{ kind: 'failTurn', turnId, error: AGENT_RESTART_ERROR, at }]);
      if (outcome.ok) {
        report.leasesReleased += 1;
        report.turnsFailed += 1;
        if (after.queuedTurns > 0 && (await deps.turns.startNext(tenant, sessionKey))) report.turnsStarted += 1;
        return;
      }
      if (outcome.reason === 'turn_state') return; // the turn finished meanwhile: nothing to restart
    }
  }
}
