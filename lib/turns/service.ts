import type { Principal } from '../auth/api-keys.js';
import type { Config } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { ThreadStore } from '../threads/ports.js';
import type { TurnRef, WorkflowStarter } from '../workflows/turn-workflow.js';
import { claimInline } from './claim-inline.js';
import type { TurnContext } from './context.js';
import { finishTurn, type TurnOutcome } from './finish.js';
import { keepTrace } from './keep-trace.js';
import type { LeaseGuard } from './lease.js';
import type { Message, Turn } from './model.js';
import { getTurn, threadMessages } from './reads.js';
import { submitTurn } from './submit.js';
import type { TurnTrace } from './trace.js';
import { type Recovery, recoverThread, startNextQueued } from './unstick.js';
import type { TurnView } from './view.js';

export type { TurnOutcome } from './finish.js';
export type { LeaseGuard } from './lease.js';
export { idempotentTurnId } from './turn-id.js';
export type { Recovery, RecoveryEffects } from './unstick.js';

/**
 * Turns: one at a time per thread (a lease on the thread item), started as workflow executions
 * named by the turnId, finished with exactly one reply, and queued or refused while busy. A facade:
 * each operation lives in its own module of lib/turns.
 */
export class TurnService {
  private readonly ctx: TurnContext;

  constructor(config: Config, store: ThreadStore, workflow: WorkflowStarter, options: { now?: () => Date } = {}) {
    this.ctx = { config, store, workflow, now: options.now ?? (() => new Date()) };
  }

  /** Accepts a turn: starts it, queues it (onBusy: enqueue) or refuses it (onBusy: reject). */
  submit(
    principal: Principal,
    sessionKey: string,
    input: { input: string; idempotencyKey?: string },
  ): Promise<{ turn: TurnView; created: boolean }> {
    return submitTurn(this.ctx, principal, sessionKey, input);
  }

  /**
   * Finishes a running turn with its one reply (or its failure), releases everything, starts the
   * next queued turn (unless `startNext: false`). With a guard (a sub-agent's turn), the reply is
   * recorded only while the parent turn still holds its lease; otherwise the turn is failed.
   */
  async finish(
    ref: TurnRef,
    requested: TurnOutcome,
    requestedGuard?: LeaseGuard,
    options: { startNext?: boolean } = {},
  ): Promise<'finished' | 'stale'> {
    const done = await finishTurn(this.ctx, ref, requested, requestedGuard);
    if ((options.startNext ?? true) && done.queueWaiting) await this.startNext(ref.tenant, ref.sessionKey);
    return done.result;
  }

  /** Saves a failing phase's trace on its still-running turn, best effort (see keep-trace.ts). */
  keepTrace(ref: TurnRef, trace: TurnTrace): Promise<void> {
    return keepTrace(this.ctx, ref, trace);
  }

  /** Claims a child thread for a sub-agent's turn run in the caller's process (see claim-inline.ts). */
  claimInline(
    tenant: string,
    sessionKey: string,
    turnId: string,
    input: string,
    guard: LeaseGuard,
    timeoutSeconds: number,
  ): Promise<{ claimed: TurnRef; thread: Thread; turn: Turn } | { finished: Turn }> {
    return claimInline(this.ctx, tenant, sessionKey, turnId, input, guard, timeoutSeconds);
  }

  /** Starts the oldest queued turn if the thread is free; returns whether one started. */
  startNext(tenant: string, sessionKey: string): Promise<boolean> {
    return startNextQueued(this.ctx, tenant, sessionKey);
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
  recoverCounted(tenant: string, sessionKey: string): Promise<Recovery> {
    return recoverThread(this.ctx, tenant, sessionKey);
  }

  /** A turn of the caller's thread; with `waitSeconds`, waits (polling) until it is final or the time is up. */
  get(tenant: string, sessionKey: string, turnId: string, waitSeconds = 0): Promise<TurnView> {
    return getTurn(this.ctx.store, tenant, sessionKey, turnId, waitSeconds);
  }

  /** The thread's history, oldest first, after sequence number `after`. */
  messages(
    tenant: string,
    sessionKey: string,
    options: { after: number; limit: number },
  ): Promise<{ messages: Message[]; next?: number }> {
    return threadMessages(this.ctx.store, tenant, sessionKey, options);
  }
}
