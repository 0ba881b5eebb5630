import { createHash } from 'node:crypto';
import type { Principal } from '../auth/api-keys.js';
import { durationMs, durationSeconds } from '../config/duration.js';
import type { AgentConfig, Config } from '../config/schema.js';
import { nextAuditEntry } from '../threads/audit.js';
import { ThreadError } from '../threads/errors.js';
import type { Thread, ThreadLease } from '../threads/model.js';
import { OPTIMISTIC_ATTEMPTS, optimisticBackoff } from '../threads/optimistic.js';
import type { CounterDelta, ThreadStore, ThreadWrite, TransitionOutcome } from '../threads/ports.js';
import { ulid } from '../threads/session-key.js';
import type { TurnRef, WorkflowStarter } from '../workflows/turn-workflow.js';
import { TurnError } from './errors.js';
import { FINAL_STATUSES, type Message, type SubAgentOutcome, type Turn } from './model.js';
import { type TurnTrace, withinTraceBudget } from './trace.js';
import { type TurnView, turnView } from './view.js';

/** A lease another write must still match: a sub-agent's writes are fenced by its parent turn's lease. */
export interface LeaseGuard {
  tenant: string;
  sessionKey: string;
  turnId: string;
  fencingToken: number;
}

/** How a turn ended, as the workflow reports it; a failure without a trace keeps the one saved by keepTrace. */
export type TurnOutcome =
  | { status: 'succeeded'; reply: string; subAgents: SubAgentOutcome[]; trace?: TurnTrace }
  | { status: 'failed' | 'timed_out'; error: string; subAgents?: SubAgentOutcome[]; trace?: TurnTrace };

/** Extra time a lease outlives the turn's budget before another turn may take the thread over. */
const LEASE_GRACE_MS = 5_000;
const WAIT_POLL_MS = 200;

/**
 * Turns: one at a time per thread (a lease on the thread item), started as workflow executions
 * named by the turnId, finished with exactly one reply, and queued or refused while busy.
 */
/** Most messages one finish deletes from below the memory window (one BatchWriteItem). */
const TRIM_BATCH = 25;

/** What one recover call's own committed transitions did (never what a concurrent caller did). */
export interface RecoveryEffects {
  /** Its transition took the lease (released it, or handed it to a queued turn). */
  leaseReleased: boolean;
  /** Its transition failed the lease's running turn. */
  turnFailed: boolean;
  /** It started a queued turn. */
  turnStarted: boolean;
  /** Every optimistic attempt lost a race: it decided nothing (run it again). */
  gaveUp: boolean;
}

/** TurnService.recoverCounted's answer. */
export interface Recovery extends RecoveryEffects {
  outcome: 'none' | 'released' | 'started';
}

export class TurnService {
  private readonly now: () => Date;

  constructor(
    private readonly config: Config,
    private readonly store: ThreadStore,
    private readonly workflow: WorkflowStarter,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** Accepts a turn: starts it, queues it (onBusy: enqueue) or refuses it (onBusy: reject). */
  async submit(
    principal: Principal,
    sessionKey: string,
    input: { input: string; idempotencyKey?: string },
  ): Promise<{ turn: TurnView; created: boolean }> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const thread = await this.requireLive(principal.tenant, sessionKey);
      const agent = this.agentOf(thread);
      const turnId = input.idempotencyKey ? idempotentTurnId(thread.threadId, input.idempotencyKey) : `turn_${ulid()}`;
      if (input.idempotencyKey) {
        const existing = await this.store.getTurn(thread.tenant, sessionKey, turnId);
        if (existing)
          return { turn: turnView(await this.repeat(thread, agent, existing, input.input)), created: false };
      }
      const now = this.now();
      const turn = newTurn(thread, turnId, input.input, now, input.idempotencyKey);
      const busy = this.holdsLiveLease(thread, now);
      let outcome: TransitionOutcome;
      if (!busy && thread.queuedTurns === 0) {
        const claim = this.claim(thread, agent, turn, now, 'new');
        outcome = await this.store.transition(thread, claim.after, undefined, [], claim.writes);
        if (outcome.ok) {
          await this.startExecution(claim.after, claim.turn, agent);
          return { turn: turnView(claim.turn), created: true };
        }
      } else {
        if ((agent.onBusy ?? this.config.threadManagement.onBusy) === 'reject' && busy) {
          throw new TurnError(
            'thread_busy',
            `thread "${sessionKey}" is running turn ${thread.lease!.turnId}; one turn runs at a time`,
            {
              runningTurnId: thread.lease!.turnId,
            },
          );
        }
        // Queue behind the running turn (or behind turns that were queued before a lease expired).
        const queued: Turn = { ...turn, queueSeq: thread.queueSeq + 1 };
        const after: Thread = {
          ...thread,
          version: thread.version + 1,
          queueSeq: thread.queueSeq + 1,
          queuedTurns: thread.queuedTurns + 1,
        };
        outcome = await this.store.transition(
          thread,
          after,
          undefined,
          [],
          [
            { kind: 'putTurn', turn: queued },
            { kind: 'enqueue', queueSeq: queued.queueSeq!, turnId },
          ],
        );
        if (outcome.ok) {
          if (!busy) await this.startNext(principal.tenant, sessionKey);
          return {
            turn: turnView((await this.store.getTurn(thread.tenant, sessionKey, turnId)) ?? queued),
            created: true,
          };
        }
      }
      if (outcome.reason === 'turn_exists') {
        // A concurrent repeat with the same idempotency key won: answer with its turn.
        const existing = await this.store.getTurn(thread.tenant, sessionKey, turnId);
        if (existing)
          return { turn: turnView(await this.repeat(thread, agent, existing, input.input)), created: false };
      }
      if (outcome.reason === 'turn_limit') {
        throw new TurnError(
          'turn_limit_reached',
          `agent "${thread.agent}" already runs its maximum of ${agent.maxConcurrentTurns} turns`,
          {
            limit: 'maxConcurrentTurns',
            max: agent.maxConcurrentTurns,
            agent: thread.agent,
          },
        );
      }
      // The takeover of an expired lease found its turn no longer running (an orphan): recover
      // releases it without failing anything, then decide again.
      if (outcome.reason === 'turn_state' && thread.lease) await this.recover(principal.tenant, sessionKey);
      // 'version': another writer changed the thread between our read and write; decide again.
    }
    throw new ThreadError('conflict', `thread "${sessionKey}" is being changed by other requests; retry`, {
      sessionKey,
    });
  }

  /**
   * A repeated submission: the same turn, never a second one. If the turn holds the lease, its
   * execution is started again, which is a no-op when it runs (the name is the turnId) and recovers
   * a submit that died between its claim and its StartExecution.
   */
  private async repeat(thread: Thread, agent: AgentConfig, existing: Turn, input: string): Promise<Turn> {
    if (existing.input !== input) {
      throw new TurnError(
        'idempotency_key_reused',
        'this idempotencyKey was used for a different input on this thread',
        { turnId: existing.turnId },
      );
    }
    // Only re-issue the start: a failure here says nothing about the execution the first attempt
    // may have started, so it must not fail the turn (the lease's expiry covers a start that never was).
    if (existing.status === 'running' && thread.lease?.turnId === existing.turnId)
      await this.workflow.start(existing.turnId, { turn: this.turnRef(thread, existing, agent) });
    return existing;
  }

  /**
   * Finishes a running turn with its one reply (or its failure), releases everything, starts the
   * next queued turn. With a guard (a sub-agent's turn), the reply is recorded only while the parent
   * turn still holds its lease; otherwise the turn is failed, and its lease and slot still released.
   */
  async finish(
    ref: TurnRef,
    requested: TurnOutcome,
    requestedGuard?: LeaseGuard,
    options: { startNext?: boolean } = {},
  ): Promise<'finished' | 'stale'> {
    const startNext = options.startNext ?? true;
    // A sub-agent whose parent lost its lease is finished as failed, without the parent's guard.
    let outcome = requested;
    let guard = requestedGuard;
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const [thread, turn] = await Promise.all([
        this.store.get(ref.tenant, ref.sessionKey),
        this.store.getTurn(ref.tenant, ref.sessionKey, ref.turnId),
      ]);
      if (!thread || !turn || FINAL_STATUSES.includes(turn.status)) {
        // Finished before (a retry, or a crash after the finish): make sure its queue still moves.
        if (startNext && thread?.queuedTurns && !this.holdsLiveLease(thread))
          await this.startNext(ref.tenant, ref.sessionKey);
        return 'stale';
      }
      // Fencing: only the holder of the lease this turn was started under may finish it.
      if (thread.lease?.turnId !== ref.turnId || thread.lease.fencingToken !== ref.fencingToken) return 'stale';
      const now = this.now();
      const at = now.toISOString();
      const writes: ThreadWrite[] = [];
      let messageSeq = thread.messageSeq;
      const finished: Turn = {
        ...turn,
        status: outcome.status,
        endedAt: at,
        ...(outcome.subAgents ? { subAgents: withinTraceBudget(outcome.subAgents) } : {}),
        ...(outcome.trace ? { trace: outcome.trace } : {}),
      };
      if (outcome.status === 'succeeded') {
        messageSeq += 1;
        finished.reply = outcome.reply;
        finished.replySeq = messageSeq;
        writes.push({
          kind: 'putMessage',
          message: {
            seq: messageSeq,
            role: 'assistant',
            content: outcome.reply,
            turnId: ref.turnId,
            agent: thread.agent,
            createdAt: at,
            ...this.messageTtl(thread.agent, now),
          },
        });
      } else {
        finished.error = outcome.error;
      }
      writes.push({ kind: 'updateTurn', turn: finished, expected: 'running' });
      const audit = nextAuditEntry(thread, {
        type: 'agent_exec',
        at,
        tenant: thread.tenant,
        actor: `turn:${ref.turnId}`,
        data: {
          turnId: ref.turnId,
          status: outcome.status,
          ...(outcome.status === 'succeeded' ? {} : { error: outcome.error }),
          subAgents: (outcome.subAgents ?? []).map((s) => ({
            agent: s.agent,
            sessionKey: s.sessionKey,
            status: s.status,
          })),
        },
      });
      const trim = this.trimRange(thread, messageSeq);
      const after: Thread = {
        ...thread,
        version: thread.version + 1,
        lease: undefined,
        messageSeq,
        lastActiveAt: at,
        auditSeq: audit.seq,
        auditHash: audit.hash,
        ...(trim ? { trimmedThroughSeq: trim.through } : {}),
      };
      const counters: CounterDelta[] = [
        { agent: thread.agent, runningTurns: -1, ...(outcome.status === 'timed_out' ? { timedOutTurns: 1 } : {}) },
      ];
      if (guard) writes.push({ kind: 'assertLease', ...guard });
      const result = await this.store.transition(thread, after, audit, counters, writes);
      if (result.ok) {
        await this.trimMemory(after, trim?.seqs ?? []);
        if (startNext && after.queuedTurns > 0) await this.startNext(ref.tenant, ref.sessionKey);
        return 'finished';
      }
      if (result.reason === 'turn_state') return 'stale';
      if (result.reason === 'lease_lost') {
        outcome = {
          status: 'failed',
          error: 'the parent turn lost its lease before this sub-agent finished',
          ...(outcome.trace ? { trace: outcome.trace } : {}),
        };
        guard = undefined;
      }
    }
    throw new ThreadError('conflict', `turn ${ref.turnId} could not be finished; retry`, { turnId: ref.turnId });
  }

  /**
   * Saves the trace a failing phase collected on its turn while the turn still runs under this lease,
   * so the failure recorded next (which keeps the stored turn's fields) shows how far it got. Only on
   * the failure path (one transaction), best effort: a turn already final, or a lease lost, is left alone.
   * Not called for errors the workflow retries (`retriedByWorkflow`: throttling), which would only add load.
   */
  async keepTrace(ref: TurnRef, trace: TurnTrace): Promise<void> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const [thread, turn] = await Promise.all([
        this.store.get(ref.tenant, ref.sessionKey),
        this.store.getTurn(ref.tenant, ref.sessionKey, ref.turnId),
      ]);
      if (
        !thread ||
        turn?.status !== 'running' ||
        thread.lease?.turnId !== ref.turnId ||
        thread.lease.fencingToken !== ref.fencingToken
      )
        return;
      // The thread's version condition closes the race with a finish or takeover between our read and
      // this write (the lease we checked is still there); `expected: running` keeps a final turn final.
      const outcome = await this.store.transition(
        thread,
        { ...thread, version: thread.version + 1 },
        undefined,
        [],
        [{ kind: 'updateTurn', turn: { ...turn, trace }, expected: 'running' }],
      );
      if (outcome.ok || outcome.reason !== 'version') return;
    }
  }

  /**
   * Claims a thread for a turn that runs in the caller's process rather than as an execution (a
   * sub-agent's task in its child thread): same lease, slot and messages as any turn, refused while
   * another turn holds the thread, and only while the parent turn (`guard`) still holds its lease.
   * A retry whose first attempt already finished gets that turn back (`finished`).
   */
  async claimInline(
    tenant: string,
    sessionKey: string,
    turnId: string,
    input: string,
    guard: LeaseGuard,
    timeoutSeconds: number,
  ): Promise<{ claimed: TurnRef; thread: Thread; turn: Turn } | { finished: Turn }> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const thread = await this.requireLive(tenant, sessionKey);
      const existing = await this.store.getTurn(tenant, sessionKey, turnId);
      if (existing && FINAL_STATUSES.includes(existing.status)) return { finished: existing };
      const now = this.now();
      if (existing || this.holdsLiveLease(thread, now)) {
        throw new TurnError('thread_busy', `thread "${sessionKey}" is running turn ${thread.lease?.turnId ?? turnId}`, {
          runningTurnId: thread.lease?.turnId ?? turnId,
        });
      }
      const agent = this.agentOf(thread);
      const claim = this.claim(thread, agent, newTurn(thread, turnId, input, now), now, 'new');
      claim.writes.push({ kind: 'assertLease', ...guard });
      const outcome = await this.store.transition(thread, claim.after, undefined, [], claim.writes);
      if (outcome.ok) {
        const claimed: TurnRef = {
          tenant,
          sessionKey,
          turnId,
          agent: thread.agent,
          fencingToken: claim.turn.fencingToken!,
          timeoutSeconds,
          maxChildren: 1,
        };
        return { claimed, thread: claim.after, turn: claim.turn };
      }
      if (outcome.reason === 'lease_lost')
        throw new TurnError(
          'stale_turn',
          `turn ${guard.turnId} no longer holds the lease of thread "${guard.sessionKey}"`,
          { turnId: guard.turnId },
        );
      if (outcome.reason === 'turn_limit') {
        throw new TurnError(
          'turn_limit_reached',
          `agent "${thread.agent}" already runs its maximum of ${agent.maxConcurrentTurns} turns`,
          { agent: thread.agent },
        );
      }
    }
    throw new ThreadError('conflict', `thread "${sessionKey}" is being changed by other requests; retry`, {
      sessionKey,
    });
  }

  /**
   * The messages that fell out of the maxTurns window since the last trim, claimed in the finish's
   * transaction (its version condition makes each range claimed once), at most one batch per finish.
   */
  private trimRange(thread: Thread, messageSeq: number): { seqs: number[]; through: number } | undefined {
    const memory = this.config.agents[thread.agent]?.memory;
    if (!memory) return undefined;
    const keepFromSeq = messageSeq - 2 * memory.maxTurns + 1;
    // A thread from before trimmedThroughSeq existed starts where the old trim (the two seqs below
    // the window at each finish) had got to; whatever that left behind goes with its TTL.
    const from =
      Math.max(thread.trimmedThroughSeq ?? thread.messageSeq - 2 * memory.maxTurns, thread.memoryFloorSeq) + 1;
    const through = Math.min(keepFromSeq - 1, from + TRIM_BATCH - 1);
    if (through < from) return undefined;
    return { seqs: Array.from({ length: through - from + 1 }, (_, i) => from + i), through };
  }

  /**
   * Memory is temporary as configured: after each turn, messages beyond memory.maxTurns exchanges
   * (the range the finish claimed) or older than memory.maxAge are deleted (TTL on each message is
   * the safety net). Only a thread older than maxAge can hold a message older than maxAge, so only
   * then is the history read.
   */
  private async trimMemory(thread: Thread, fallen: number[]): Promise<void> {
    const memory = this.config.agents[thread.agent]?.memory;
    if (!memory) return;
    const keepFromSeq = thread.messageSeq - 2 * memory.maxTurns + 1;
    if (fallen.length > 0) await this.store.deleteMessages(thread.tenant, thread.sessionKey, fallen);
    const olderThan = new Date(this.now().getTime() - durationMs(memory.maxAge)).toISOString();
    if (thread.createdAt < olderThan)
      await this.store.trimHistory(thread.tenant, thread.sessionKey, { keepFromSeq, olderThan, limit: 25 });
  }

  /** Starts the oldest queued turn if the thread is free; returns whether one started (`effects`: what its claim did, for recover). */
  async startNext(tenant: string, sessionKey: string, effects?: RecoveryEffects): Promise<boolean> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const thread = await this.store.get(tenant, sessionKey);
      if (!thread || thread.status === 'terminated' || thread.queuedTurns === 0) return false;
      // An agent that left the config runs nothing more; reconciliation or the sweep ends the thread.
      if (!(thread.agent in this.config.agents)) return false;
      const now = this.now();
      if (this.holdsLiveLease(thread, now)) return false;
      const head = await this.store.queueHead(tenant, sessionKey);
      const queued = head && (await this.store.getTurn(tenant, sessionKey, head.turnId));
      if (!head || !queued) return false;
      const agent = this.agentOf(thread);
      const claim = this.claim(thread, agent, queued, now, 'from-queue');
      claim.after.queuedTurns = thread.queuedTurns - 1;
      claim.writes.push({ kind: 'dequeue', queueSeq: head.queueSeq });
      const outcome = await this.store.transition(thread, claim.after, undefined, [], claim.writes);
      if (outcome.ok) {
        if (effects) {
          effects.turnStarted = true;
          // A takeover: this claim took the expired lease and failed its turn (its failTurn only lands on a running turn).
          if (thread.lease) Object.assign(effects, { leaseReleased: true, turnFailed: true });
        }
        await this.startExecution(claim.after, claim.turn, agent);
        return true;
      }
      // The agent is at maxConcurrentTurns: the turn stays queued until a slot frees up.
      if (outcome.reason === 'turn_limit') return false;
      // An orphan lease (see submit): recover releases it and starts the queue itself.
      if (outcome.reason === 'turn_state' && thread.lease) {
        return (
          (await this.recoverInto(
            tenant,
            sessionKey,
            effects ?? { leaseReleased: false, turnFailed: false, turnStarted: false, gaveUp: false },
          )) === 'started'
        );
      }
    }
    return false;
  }

  /**
   * Unsticks a thread whose turn will never finish: its lease expired (the process died) or its turn
   * is already final or missing (an orphan lease). The turn, if still running, is marked failed and
   * the slot released, or handed to the next queued turn. Safe to run at any time, from many places.
   */
  async recover(tenant: string, sessionKey: string): Promise<'none' | 'released' | 'started'> {
    return (await this.recoverCounted(tenant, sessionKey)).outcome;
  }

  /**
   * recover, returning what this call's own committed transitions did: a caller that counts (agent
   * restart) counts from these, never from a re-read another recover running at once may have changed.
   */
  async recoverCounted(tenant: string, sessionKey: string): Promise<Recovery> {
    const effects: RecoveryEffects = { leaseReleased: false, turnFailed: false, turnStarted: false, gaveUp: false };
    const outcome = await this.recoverInto(tenant, sessionKey, effects);
    return { outcome, ...effects };
  }

  private async recoverInto(
    tenant: string,
    sessionKey: string,
    effects: RecoveryEffects,
  ): Promise<'none' | 'released' | 'started'> {
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const thread = await this.store.get(tenant, sessionKey);
      if (!thread || thread.status === 'terminated') return 'none';
      const canStart = thread.queuedTurns > 0 && thread.agent in this.config.agents;
      if (!thread.lease) return canStart && (await this.startNext(tenant, sessionKey, effects)) ? 'started' : 'none';
      const turn = await this.store.getTurn(tenant, sessionKey, thread.lease.turnId);
      const orphan = !turn || FINAL_STATUSES.includes(turn.status);
      if (!orphan && this.holdsLiveLease(thread)) return 'none';
      // An expired lease of a running turn passes straight to the next queued turn (startNext fails it).
      if (!orphan && canStart) return (await this.startNext(tenant, sessionKey, effects)) ? 'started' : 'none';
      const after: Thread = { ...thread, version: thread.version + 1, lease: undefined };
      const writes: ThreadWrite[] = orphan
        ? []
        : [
            {
              kind: 'failTurn',
              turnId: thread.lease.turnId,
              error: 'the turn did not finish before its lease expired',
              at: this.now().toISOString(),
            },
          ];
      if (
        (await this.store.transition(thread, after, undefined, [{ agent: thread.agent, runningTurns: -1 }], writes)).ok
      ) {
        effects.leaseReleased = true;
        effects.turnFailed = !orphan; // the failTurn write only lands on a turn still running
        return canStart && (await this.startNext(tenant, sessionKey, effects)) ? 'started' : 'released';
      }
    }
    effects.gaveUp = true;
    return 'none';
  }

  /** A turn of the caller's thread; with `waitSeconds`, waits (polling) until it is final or the time is up. */
  async get(tenant: string, sessionKey: string, turnId: string, waitSeconds = 0): Promise<TurnView> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const turn = await this.store.getTurn(tenant, sessionKey, turnId);
      if (!turn)
        throw new TurnError('turn_not_found', `no turn "${turnId}" on thread "${sessionKey}"`, { sessionKey, turnId });
      if (FINAL_STATUSES.includes(turn.status) || Date.now() + WAIT_POLL_MS > deadline) return turnView(turn);
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  /** The thread's history, oldest first, after sequence number `after`. */
  async messages(
    tenant: string,
    sessionKey: string,
    options: { after: number; limit: number },
  ): Promise<{ messages: Message[]; next?: number }> {
    const thread = await this.store.get(tenant, sessionKey);
    if (!thread) throw new ThreadError('thread_not_found', `no thread "${sessionKey}"`, { sessionKey });
    const messages = await this.store.messagesAfter(
      tenant,
      sessionKey,
      Math.max(options.after, thread.memoryFloorSeq),
      options.limit,
    );
    const last = messages.at(-1);
    return {
      messages,
      ...(last && messages.length === options.limit && last.seq < thread.messageSeq ? { next: last.seq } : {}),
    };
  }

  /**
   * The claim of a free thread for a turn: lease with a new fencing token, the user message, a
   * running-turn slot (reused when the lease being taken over had expired), and the old turn failed.
   */
  private claim(thread: Thread, agent: AgentConfig, accepted: Turn, now: Date, source: 'new' | 'from-queue') {
    const at = now.toISOString();
    const fencingToken = thread.fencingSeq + 1;
    const messageSeq = thread.messageSeq + 1;
    const lease: ThreadLease = {
      turnId: accepted.turnId,
      leaseExpiresAt: new Date(now.getTime() + this.leaseMs(agent)).toISOString(),
      fencingToken,
    };
    const turn: Turn = {
      ...accepted,
      status: 'running',
      fencingToken,
      userSeq: messageSeq,
      startedAt: at,
      generation: thread.generation,
    };
    const writes: ThreadWrite[] = [
      // A new turn is inserted (refused if its id exists: idempotency); a queued one moves on exactly once.
      source === 'new' ? { kind: 'putTurn', turn } : { kind: 'updateTurn', turn, expected: 'queued' },
      {
        kind: 'putMessage',
        message: {
          seq: messageSeq,
          role: 'user',
          content: accepted.input,
          turnId: accepted.turnId,
          agent: thread.agent,
          createdAt: at,
          ...this.messageTtl(thread.agent, now),
        },
      },
    ];
    if (thread.lease) {
      // Takeover of an expired lease: its turn's slot passes to this turn (no new slot is taken).
      writes.push({
        kind: 'failTurn',
        turnId: thread.lease.turnId,
        error: 'the turn did not finish before its lease expired',
        at,
      });
    } else {
      writes.push({ kind: 'reserveTurnSlot', agent: thread.agent, max: agent.maxConcurrentTurns });
    }
    const after: Thread = {
      ...thread,
      version: thread.version + 1,
      lease,
      fencingSeq: fencingToken,
      messageSeq,
      turnCount: thread.turnCount + 1,
      lastActiveAt: at,
    };
    return { after, turn, writes };
  }

  /** What the workflow carries of a claimed turn. */
  private turnRef(thread: Thread, turn: Turn, agent: AgentConfig): TurnRef {
    return {
      tenant: thread.tenant,
      sessionKey: thread.sessionKey,
      turnId: turn.turnId,
      agent: thread.agent,
      fencingToken: turn.fencingToken!,
      timeoutSeconds: durationSeconds(agent.timeout),
      maxChildren: Math.max(1, agent.maxChildren),
    };
  }

  /** Starts a just-claimed turn's execution (named by its turnId); if that fails, fails the turn at once. */
  private async startExecution(thread: Thread, turn: Turn, agent: AgentConfig): Promise<void> {
    const ref = this.turnRef(thread, turn, agent);
    try {
      await this.workflow.start(turn.turnId, { turn: ref });
    } catch (error) {
      // Nothing will run the turn: give the lease and the slot back now rather than at expiry. The
      // queue is left for the recovery pass, so an outage fails this turn, not every queued one.
      await this.finish(
        ref,
        { status: 'failed', error: `the turn workflow could not be started: ${(error as Error).message}` },
        undefined,
        { startNext: false },
      );
      throw error;
    }
  }

  private async requireLive(tenant: string, sessionKey: string): Promise<Thread> {
    const thread = await this.store.get(tenant, sessionKey);
    if (!thread) throw new ThreadError('thread_not_found', `no thread "${sessionKey}"`, { sessionKey });
    if (thread.status === 'terminated')
      throw new ThreadError('thread_terminated', `thread "${sessionKey}" is terminated`, { sessionKey });
    return thread;
  }

  private agentOf(thread: Thread): AgentConfig {
    const agent = this.config.agents[thread.agent];
    if (!agent)
      throw new TurnError('agent_unavailable', `agent "${thread.agent}" of this thread is no longer configured`, {
        agent: thread.agent,
      });
    return agent;
  }

  /** A lease lasts the turn's whole budget (main, sub-agents, merge: each up to the timeout) plus a grace. */
  private leaseMs(agent: AgentConfig): number {
    return 3 * durationSeconds(agent.timeout) * 1000 + LEASE_GRACE_MS;
  }

  /** The TTL of a message: when memory.maxAge has passed, DynamoDB may delete it even if no trim ran. */
  private messageTtl(agent: string, now: Date): { expiresAt?: number } {
    const maxAge = this.config.agents[agent]?.memory.maxAge;
    return maxAge ? { expiresAt: Math.ceil((now.getTime() + durationMs(maxAge)) / 1000) } : {};
  }

  private expired(lease: ThreadLease, now: Date): boolean {
    return Date.parse(lease.leaseExpiresAt) <= now.getTime();
  }

  private holdsLiveLease(thread: Thread, now = this.now()): boolean {
    return thread.lease !== undefined && !this.expired(thread.lease, now);
  }
}

/** The turnId of an idempotent submission: the same key on the same thread always names the same turn. */
export function idempotentTurnId(threadId: string, idempotencyKey: string): string {
  return `turn_${createHash('sha256').update(`${threadId}\n${idempotencyKey}`).digest('hex').slice(0, 26)}`;
}

/** A new turn of a thread, before it is queued or claimed. */
function newTurn(thread: Thread, turnId: string, input: string, now: Date, idempotencyKey?: string): Turn {
  return {
    tenant: thread.tenant,
    sessionKey: thread.sessionKey,
    threadId: thread.threadId,
    turnId,
    agent: thread.agent,
    status: 'queued',
    input,
    ...(idempotencyKey ? { idempotencyKey } : {}),
    generation: thread.generation,
    createdAt: now.toISOString(),
  };
}
