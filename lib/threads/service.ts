import { type AuditEntry, type AuditEvent, chainEntry, GENESIS_HASH } from '../audit/chain.js';
import { verifyChain } from '../audit/verify.js';
import type { Principal } from '../auth/api-keys.js';
import { durationMs } from '../config/duration.js';
import type { AgentConfig, Config } from '../config/schema.js';
import { nextAuditEntry } from './audit.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { ThreadError } from './errors.js';
import { displayStatus, type Thread, type ThreadStatus } from './model.js';
import { retryOptimistic, threadConflict } from './optimistic.js';
import type { CounterDelta, ThreadPosition, ThreadStore, ThreadWrite } from './ports.js';
import { newSessionKey, newThreadId } from './session-key.js';
import { type ThreadView, threadView } from './view.js';

/** What a client asks for when spawning. */
export interface SpawnInput {
  agent: string;
  sessionKey?: string;
  metadata?: Record<string, string>;
}

/** Filters and paging of a thread listing. */
export interface ListInput {
  agent?: string;
  status?: ThreadStatus;
  cursor?: string;
  limit: number;
}

/** How a thread is terminated. */
export interface TerminateOptions {
  reason?: string;
  /** thread_cleanup for the idle sweep and reconciliation; thread_terminate otherwise. */
  auditType?: 'thread_terminate' | 'thread_cleanup';
  /** Terminate only if the thread is idle (no turn running or queued) and its lastActiveAt is still this. */
  onlyIfIdleSince?: string;
}

/** The result of a terminate call. */
export interface TerminateResult {
  /** The thread was no longer idle as the caller saw it (onlyIfIdleSince): nothing was done. */
  skipped?: boolean;
  /** The thread's items were deleted (the agent has autoDestroy). */
  destroyed: boolean;
  /** False when the thread was already terminated: nothing changed and no slot was given back. */
  changed: boolean;
  thread?: ThreadView;
}

const LIST_PAGE_SIZE = 100;
const LIST_MAX_PAGES = 10;

/** The thread lifecycle: spawn, read, list, restart and terminate, all scoped to the caller's tenant. */
export class ThreadService {
  private readonly now: () => Date;

  constructor(
    private readonly config: Config,
    private readonly store: ThreadStore,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** Spawns a thread for an agent; the limits are checked atomically with the insert. */
  async spawn(principal: Principal, input: SpawnInput): Promise<ThreadView> {
    const agent = this.agentConfig(input.agent);
    const thread = await this.insert(
      principal.tenant,
      principal.keyId,
      input.agent,
      agent,
      this.sessionKeyFor(input, agent),
      input.metadata ?? {},
    );
    return this.view(thread, this.now());
  }

  /**
   * The child thread `<parent>:<agent>` a sub-agent works in, spawned (with its lineage) on first
   * use and reused by later turns of the parent, so the sub-agent's memory persists.
   */
  async ensureChild(parent: Thread, agentName: string, parentTurnId: string): Promise<Thread> {
    const sessionKey = `${parent.sessionKey}:${agentName}`;
    const existing = await this.store.get(parent.tenant, sessionKey);
    if (existing?.status === 'active') return existing;
    // A child someone terminated is replaced by a fresh one: the parent's sub-agent must stay usable.
    if (existing) await this.store.destroy(parent.tenant, sessionKey, existing.threadId);
    const lineage = { parentSessionKey: parent.sessionKey, parentTurnId, depth: (parent.lineage?.depth ?? 0) + 1 };
    try {
      return await this.insert(
        parent.tenant,
        `turn:${parentTurnId}`,
        agentName,
        this.agentConfig(agentName),
        sessionKey,
        {},
        lineage,
      );
    } catch (error) {
      // Two turns raced to create it: use the one that won.
      if (error instanceof ThreadError && error.code === 'thread_exists')
        return this.require(parent.tenant, sessionKey);
      throw error;
    }
  }

  private async insert(
    tenant: string,
    actor: string,
    agentName: string,
    agent: AgentConfig,
    sessionKey: string,
    metadata: Record<string, string>,
    lineage?: Thread['lineage'],
  ): Promise<Thread> {
    const now = this.now();
    const at = now.toISOString();
    const threadId = newThreadId(now.getTime());
    const audit = chainEntry(
      threadId,
      { seq: 0, hash: GENESIS_HASH },
      {
        type: 'thread_spawn',
        at,
        tenant,
        actor,
        sessionKey,
        agent: agentName,
        data: { threadId, mode: agent.mode, metadataKeys: Object.keys(metadata), ...(lineage ? { lineage } : {}) },
      },
    );
    const thread: Thread = {
      tenant,
      sessionKey,
      threadId,
      agent: agentName,
      mode: agent.mode,
      status: 'active',
      generation: 1,
      version: 1,
      createdAt: at,
      lastActiveAt: at,
      turnCount: 0,
      messageSeq: 0,
      memoryFloorSeq: 0,
      trimmedThroughSeq: 0,
      queueSeq: 0,
      queuedTurns: 0,
      fencingSeq: 0,
      metadata,
      ...(lineage ? { lineage } : {}),
      auditSeq: audit.seq,
      auditHash: audit.hash,
    };
    await this.store.create(thread, audit, {
      maxThreads: this.config.threadManagement.maxThreads,
      maxActiveThreads: agent.maxActiveThreads,
    });
    return thread;
  }

  /** The caller's thread; another tenant's thread is indistinguishable from a missing one. */
  async get(tenant: string, sessionKey: string): Promise<ThreadView> {
    return this.view(await this.require(tenant, sessionKey), this.now());
  }

  /** The audit trail of the caller's thread (its current incarnation) and whether its hash chain is intact. */
  async auditTrail(
    tenant: string,
    sessionKey: string,
  ): Promise<{ entries: AuditEntry[]; verified: boolean; problem?: { seq: number; problem: string } }> {
    const thread = await this.require(tenant, sessionKey);
    const entries = await this.store.auditTrail(tenant, sessionKey, thread.threadId);
    const problem = verifyChain(entries, { seq: thread.auditSeq, hash: thread.auditHash });
    return { entries, verified: !problem, ...(problem ? { problem } : {}) };
  }

  /** A page of the caller's threads, newest first, filtered by agent and status. */
  async list(tenant: string, input: ListInput): Promise<{ threads: ThreadView[]; cursor?: string }> {
    const now = this.now();
    let after: ThreadPosition | undefined = input.cursor ? decodeCursor(input.cursor) : undefined;
    const threads: ThreadView[] = [];
    // Filters are applied here, so a page may need several reads; the read budget bounds the
    // work per request and the cursor resumes exactly after the last thread examined.
    for (let page = 0; page < LIST_MAX_PAGES; page += 1) {
      const result = await this.store.listByTenant(tenant, { after, pageSize: LIST_PAGE_SIZE });
      for (const [i, thread] of result.threads.entries()) {
        after = { createdAt: thread.createdAt, sessionKey: thread.sessionKey };
        if (input.agent && thread.agent !== input.agent) continue;
        if (input.status && displayStatus(thread, this.idleTimeoutMs(thread.agent), now) !== input.status) continue;
        threads.push(this.view(thread, now));
        if (threads.length === input.limit) {
          const more = i < result.threads.length - 1 || result.more;
          return { threads, ...(more ? { cursor: encodeCursor(after) } : {}) };
        }
      }
      if (!result.more) return { threads };
    }
    return { threads, ...(after ? { cursor: encodeCursor(after) } : {}) };
  }

  /** Releases a stuck lease, bumps the generation, and keeps or clears the thread's memory. */
  async restart(principal: Principal, sessionKey: string, options: { clearMemory: boolean }): Promise<ThreadView> {
    return this.optimistic(principal.tenant, sessionKey, async (thread, now) => {
      if (thread.status === 'terminated') {
        throw new ThreadError('thread_terminated', `thread "${sessionKey}" is terminated and cannot be restarted`, {
          sessionKey,
        });
      }
      const at = now.toISOString();
      const audit = this.nextAudit(thread, principal, 'thread_restart', at, {
        generation: thread.generation + 1,
        clearMemory: options.clearMemory,
        ...(thread.lease ? { releasedTurnId: thread.lease.turnId } : {}),
      });
      const after: Thread = {
        ...thread,
        generation: thread.generation + 1,
        version: thread.version + 1,
        lastActiveAt: at,
        lease: undefined,
        memoryFloorSeq: options.clearMemory ? thread.messageSeq : thread.memoryFloorSeq,
        auditSeq: audit.seq,
        auditHash: audit.hash,
      };
      const counters: CounterDelta[] = thread.lease ? [{ agent: thread.agent, runningTurns: -1 }] : [];
      if (
        !(
          await this.store.transition(
            thread,
            after,
            audit,
            counters,
            this.failLeasedTurn(thread, 'the thread was restarted', at),
          )
        ).ok
      )
        return undefined;
      // Memory already excludes these messages (memoryFloorSeq moved in the transaction);
      // deleting them is storage hygiene, safe to repeat if it is interrupted.
      if (options.clearMemory) await this.store.trimMessages(thread.tenant, sessionKey, after.memoryFloorSeq);
      return this.view(after, now);
    });
  }

  /** Terminates a thread (deleting its items when the agent has autoDestroy); repeat calls change nothing. */
  async terminate(principal: Principal, sessionKey: string, options: TerminateOptions = {}): Promise<TerminateResult> {
    return this.optimistic(principal.tenant, sessionKey, async (thread, now) => {
      const destroy = this.config.agents[thread.agent]?.autoDestroy ?? false;
      // A system caller (the idle sweep, reconciliation) ends only a thread that is still as it saw
      // it: no turn running, not active since (turns only queue behind a running one; queued turns
      // left by a lease that expired are failed with the thread). Decided on the read the write is
      // conditioned on, so a turn that starts meanwhile makes the write fail and this check run again.
      if (
        options.onlyIfIdleSince !== undefined &&
        (thread.status === 'terminated' || thread.lease || thread.lastActiveAt !== options.onlyIfIdleSince)
      ) {
        return { destroyed: false, changed: false, skipped: true };
      }
      if (thread.status === 'terminated') {
        // A repeat finishes what an interrupted first call left: the deletion, or the queue.
        if (destroy) await this.store.destroy(thread.tenant, sessionKey, thread.threadId);
        else if (thread.queuedTurns > 0)
          await this.store.failQueuedTurns(
            thread.tenant,
            sessionKey,
            'the thread was terminated',
            thread.terminatedAt ?? now.toISOString(),
          );
        return { destroyed: destroy, changed: false, ...(destroy ? {} : { thread: this.view(thread, now) }) };
      }
      const at = now.toISOString();
      const reason = options.reason ?? 'terminated by client';
      const audit = this.nextAudit(thread, principal, options.auditType ?? 'thread_terminate', at, {
        reason,
        destroyed: destroy,
        ...(thread.lease ? { releasedTurnId: thread.lease.turnId } : {}),
      });
      const after: Thread = {
        ...thread,
        status: 'terminated',
        version: thread.version + 1,
        terminatedAt: at,
        terminationReason: reason,
        lease: undefined,
        ...(destroy ? { destroyPending: true } : {}),
        auditSeq: audit.seq,
        auditHash: audit.hash,
      };
      const counters: CounterDelta[] = [
        { agent: thread.agent, activeThreads: -1, runningTurns: thread.lease ? -1 : 0 },
      ];
      if (
        !(
          await this.store.transition(
            thread,
            after,
            audit,
            counters,
            this.failLeasedTurn(thread, 'the thread was terminated', at),
          )
        ).ok
      )
        return undefined;
      // The slot is already given back; deleting the items is idempotent, and a crash here leaves
      // a terminated thread (its item is deleted last) that the next terminate call destroys.
      if (destroy) await this.store.destroy(thread.tenant, sessionKey, thread.threadId);
      // A kept thread's queued turns will never run: give them a final status clients can see.
      else if (thread.queuedTurns > 0)
        await this.store.failQueuedTurns(thread.tenant, sessionKey, 'the thread was terminated', at);
      await this.terminateChildren(principal, thread, options);
      return { destroyed: destroy, changed: true, ...(destroy ? {} : { thread: this.view(after, now) }) };
    });
  }

  /** Sub-agent threads live with their parent: they end with it (their own autoDestroy applies). */
  private async terminateChildren(principal: Principal, parent: Thread, options: TerminateOptions): Promise<void> {
    for (const sub of this.config.agents[parent.agent]?.subAgents ?? []) {
      const sessionKey = `${parent.sessionKey}:${sub}`;
      if (!(await this.store.get(parent.tenant, sessionKey))) continue;
      try {
        await this.terminate(principal, sessionKey, {
          reason: `its parent thread "${parent.sessionKey}" was terminated`,
          auditType: options.auditType ?? 'thread_terminate',
        });
      } catch (error) {
        if (!(error instanceof ThreadError && error.code === 'thread_not_found')) throw error;
      }
    }
  }

  /**
   * Moves an idle thread to the agent its agent was renamed to (config `renamedFrom`): the slot moves
   * between the two agents' counters in the same transaction. A thread running a turn is left alone.
   */
  async moveToAgent(tenant: string, sessionKey: string, agentName: string, actor: string): Promise<boolean> {
    const agent = this.agentConfig(agentName);
    return this.optimistic(tenant, sessionKey, async (thread, now) => {
      // Queued turns move along (they run under the new name); a running one is never disturbed.
      if (thread.status === 'terminated' || thread.agent === agentName || thread.lease) return false;
      const audit = nextAuditEntry(thread, {
        type: 'thread_moved',
        at: now.toISOString(),
        tenant,
        actor,
        data: { from: thread.agent, to: agentName },
      });
      const after: Thread = {
        ...thread,
        agent: agentName,
        mode: agent.mode,
        version: thread.version + 1,
        auditSeq: audit.seq,
        auditHash: audit.hash,
      };
      const counters: CounterDelta[] = [
        { agent: thread.agent, activeThreads: -1 },
        { agent: agentName, activeThreads: 1 },
      ];
      return (await this.store.transition(thread, after, audit, counters)).ok ? true : undefined;
    });
  }

  /** The write that fails the turn holding the thread's lease, which a restart or terminate releases. */
  private failLeasedTurn(thread: Thread, error: string, at: string): ThreadWrite[] {
    return thread.lease ? [{ kind: 'failTurn', turnId: thread.lease.turnId, error, at }] : [];
  }

  /**
   * Runs a read-decide-write step until its conditional write lands on the version it read.
   * `step` returns undefined when it lost the race; the loop re-reads and decides again.
   */
  private async optimistic<T>(
    tenant: string,
    sessionKey: string,
    step: (thread: Thread, now: Date) => Promise<T | undefined>,
  ): Promise<T> {
    return retryOptimistic(
      async () => step(await this.require(tenant, sessionKey), this.now()),
      () => {
        throw threadConflict(sessionKey);
      },
    );
  }

  private async require(tenant: string, sessionKey: string): Promise<Thread> {
    const thread = await this.store.get(tenant, sessionKey);
    if (!thread) throw new ThreadError('thread_not_found', `no thread "${sessionKey}"`, { sessionKey });
    return thread;
  }

  private agentConfig(name: string): AgentConfig {
    const agent = Object.hasOwn(this.config.agents, name) ? this.config.agents[name] : undefined;
    if (!agent) {
      throw new ThreadError('unknown_agent', `no agent "${name}" is configured`, {
        agent: name,
        agents: Object.keys(this.config.agents),
      });
    }
    return agent;
  }

  private sessionKeyFor(input: SpawnInput, agent: AgentConfig): string {
    if (agent.mode === 'singleton') {
      // One thread per tenant, keyed by the agent's name, so every caller finds the same one.
      if (input.sessionKey !== undefined && input.sessionKey !== input.agent) {
        throw new ThreadError(
          'invalid_session_key',
          `agent "${input.agent}" is a singleton: its sessionKey is always "${input.agent}"`,
          {
            field: 'sessionKey',
          },
        );
      }
      return input.agent;
    }
    if (input.sessionKey !== undefined) return input.sessionKey;
    if (this.config.threadManagement.defaultMode === 'manual') {
      throw new ThreadError(
        'session_key_required',
        'threadManagement.defaultMode is "manual": the request must give a sessionKey',
        {
          field: 'sessionKey',
        },
      );
    }
    return newSessionKey();
  }

  private idleTimeoutMs(agent: string): number {
    return durationMs(this.config.agents[agent]?.idleTimeout ?? this.config.threadManagement.idleTimeout);
  }

  private view(thread: Thread, now: Date): ThreadView {
    return threadView(thread, this.idleTimeoutMs(thread.agent), now);
  }

  private nextAudit(
    thread: Thread,
    principal: Principal,
    type: AuditEvent['type'],
    at: string,
    data: Record<string, unknown>,
  ) {
    return nextAuditEntry(thread, { type, at, tenant: principal.tenant, actor: principal.keyId, data });
  }
}
