import type { Principal } from '../auth/api-keys.js';
import type { Config } from '../config/schema.js';
import { encodeSweepCursor, type WalkPosition } from '../maintenance/cursor.js';
import { walkLiveThreads } from '../maintenance/live-threads.js';
import { needsRecovery } from '../maintenance/turn-recovery.js';
import { nextAuditEntry } from '../threads/audit.js';
import type { Thread } from '../threads/model.js';
import { retryOptimistic } from '../threads/optimistic.js';
import type { LiveThreadIndex, ThreadRecords } from '../threads/ports.js';
import type { Recovery, TurnService } from '../turns/service.js';
import type { AgentRestartAudit } from './events.js';

/** What `POST /v1/agents/{name}/restart` found and did. */
export interface AgentRestartReport {
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
  /**
   * Threads that could not be handled (logged by the caller; e.g. a release refused by a drifted
   * counter, which reconciliation repairs) or that kept losing races; the walk went on.
   */
  errors: number;
  /** False when the budget ran out (continue from `nextCursor`) or a thread kept losing races (run it again). */
  complete: boolean;
  /** Where the next call continues (body `cursor`), when the budget ran out before the end of the index. */
  nextCursor?: string;
}

/** The error a turn released by an agent restart is failed with. */
export const AGENT_RESTART_ERROR = 'the agent was restarted while this turn was running';

/** What the restart needs (the same services as the API and the maintenance jobs). */
export interface AgentRestartDeps {
  config: Config;
  /** Walks the live index; reads and transitions threads and turns. */
  store: LiveThreadIndex & ThreadRecords;
  turns: TurnService;
  /** Where the restart is audited (the agent's chain). */
  audit: AgentRestartAudit;
}

/**
 * Restarts one agent's stuck work across every tenant (an operator action; the route is admin).
 * Every live thread of the agent is visited, from `cursor` and within `budgetMs`: an expired or
 * orphaned lease is released through TurnService.recover (its running turn failed, its slot given
 * back or handed to the next queued turn) and a stranded queue is started; with `force`, a turn
 * still within its lease that started before this restart is failed too and its thread restarted
 * (generation + 1, audited).
 * Every change is a conditional transition on the version it read, so two restarts running at once
 * release each lease, fail each turn and give back each slot exactly once, and each counts only what
 * its own committed transitions did. Counters are not recounted here: that is a Scan of the whole
 * table, unbounded, so it is left to reconciliation (a release a drifted counter refuses counts in
 * `errors`). Appends one `agent_restart` entry to the agent's audit chain.
 * Returns undefined when the config has no such agent.
 */
export async function restartAgent(
  deps: AgentRestartDeps,
  name: string,
  options: {
    principal: Principal;
    force?: boolean;
    cursor?: WalkPosition;
    now?: () => Date;
    budgetMs?: number;
    onError?: (error: unknown, sessionKey: string) => void;
  },
): Promise<AgentRestartReport | undefined> {
  if (!Object.hasOwn(deps.config.agents, name)) return undefined;
  const now = options.now ?? (() => new Date());
  const budgetMs = options.budgetMs ?? 20_000;
  // A continuation keeps the first call's start: a turn started since (e.g. from a queue it freed) is new work, also for force.
  const startedAt = options.cursor?.startedAt ? new Date(options.cursor.startedAt) : now();
  const report: AgentRestartReport = {
    agent: name,
    force: options.force === true,
    startedAt: startedAt.toISOString(),
    threadsSeen: 0,
    leasesReleased: 0,
    turnsFailed: 0,
    turnsStarted: 0,
    errors: 0,
    complete: true,
  };
  let gaveUp = 0;

  // Every live thread, not only those inactive longer than a lease: a stranded queue or (with
  // force) a running turn may be on a recently active thread. Bounded by the budget (continued from `cursor`).
  const walk = await walkLiveThreads(
    deps.store,
    async (thread) => {
      if (thread.agent !== name || thread.status !== 'active') return;
      report.threadsSeen += 1;
      if (needsRecovery(thread, now())) await recover(thread);
      else if (thread.lease) {
        // A live lease: recover still releases it if its turn is already final or missing (an orphan).
        if (!(await recover(thread)) && report.force)
          await forceRestart(thread.tenant, thread.sessionKey, thread.lease.turnId);
      }
    },
    {
      cursor: options.cursor && {
        shard: options.cursor.shard,
        ...(options.cursor.key ? { key: options.cursor.key } : {}),
      },
      budgetMs,
      onError: options.onError,
    },
  );
  report.errors = walk.errors + gaveUp;
  report.complete = walk.cursor === undefined && gaveUp === 0;
  if (walk.cursor) report.nextCursor = encodeSweepCursor({ ...walk.cursor, startedAt: report.startedAt });
  // Every call is audited (a continuation too): a cross-tenant admin action leaves a record even when it changed nothing.
  await deps.audit.agentRestarted(name, {
    actor: options.principal.keyId,
    at: now().toISOString(),
    data: {
      force: report.force,
      startedAt: report.startedAt,
      continued: options.cursor !== undefined,
      threadsSeen: report.threadsSeen,
      leasesReleased: report.leasesReleased,
      turnsFailed: report.turnsFailed,
      turnsStarted: report.turnsStarted,
      errors: report.errors,
      complete: report.complete,
    },
  });
  return report;

  /** TurnService.recover, counting what its own committed transitions did; true when it changed anything. */
  async function recover(thread: Thread): Promise<boolean> {
    const done: Recovery = await deps.turns.recoverCounted(thread.tenant, thread.sessionKey);
    if (done.leaseReleased) report.leasesReleased += 1;
    if (done.turnFailed) report.turnsFailed += 1;
    if (done.turnStarted) report.turnsStarted += 1;
    if (done.gaveUp) gaveUp += 1;
    return done.outcome !== 'none';
  }

  /**
   * Takes the lease from a turn still within it (force), fails that turn and restarts the thread,
   * then starts its next queued turn. Only the lease of `turnId` as observed, and only a turn that
   * began before this restart: a turn started afterwards (from the queue this restart freed, or by a
   * client) is new work, left alone, so a second restart at the same time changes nothing twice.
   */
  async function forceRestart(tenant: string, sessionKey: string, turnId: string): Promise<void> {
    const done = await retryOptimistic<'done' | 'gave_up'>(
      async () => {
        const thread = await deps.store.get(tenant, sessionKey);
        if (thread?.status !== 'active' || thread.lease?.turnId !== turnId) return 'done';
        const turn = await deps.store.getTurn(tenant, sessionKey, turnId);
        if (turn?.status !== 'running' || !turn.startedAt || turn.startedAt > report.startedAt) return 'done';
        const at = now().toISOString();
        const audit = nextAuditEntry(thread, {
          type: 'thread_restart',
          at,
          tenant,
          actor: options.principal.keyId,
          data: { generation: thread.generation + 1, clearMemory: false, releasedTurnId: turnId, agentRestart: true },
        });
        // lastActiveAt is kept: an operator's restart is no activity of the thread (and keeps its place in the walk).
        const after: Thread = {
          ...thread,
          generation: thread.generation + 1,
          version: thread.version + 1,
          lease: undefined,
          auditSeq: audit.seq,
          auditHash: audit.hash,
        };
        // Conditional on the version read: of two restarts, or a restart and the turn's own finish,
        // exactly one changes the thread; the loser re-reads and finds the lease gone.
        const outcome = await deps.store.transition(
          thread,
          after,
          audit,
          [{ agent: thread.agent, runningTurns: -1 }],
          [{ kind: 'failTurn', turnId, error: AGENT_RESTART_ERROR, at }],
        );
        if (outcome.ok) {
          report.leasesReleased += 1;
          report.turnsFailed += 1;
          if (after.queuedTurns > 0 && (await deps.turns.startNext(tenant, sessionKey))) report.turnsStarted += 1;
          return 'done';
        }
        if (outcome.reason === 'turn_state') return 'done'; // the turn finished meanwhile: nothing to restart
        return undefined;
      },
      () => 'gave_up',
    );
    if (done === 'gave_up') gaveUp += 1; // every attempt lost a race: the turn may still hold its lease, so the restart is not complete
  }
}
