import type { Principal } from '../auth/api-keys.js';
import type { AgentConfig } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import { retryOptimistic, threadConflict } from '../threads/optimistic.js';
import type { TransitionOutcome } from '../threads/ports.js';
import { claimTurn } from './claim.js';
import type { TurnContext } from './context.js';
import { TurnError } from './errors.js';
import { startExecution, turnRef } from './execution.js';
import { holdsLiveLease } from './lease.js';
import type { Turn } from './model.js';
import { newTurn } from './new-turn.js';
import { enqueueTurn } from './queue.js';
import { agentOf, requireLive, turnLimitReached } from './thread-of.js';
import { submittedTurnId } from './turn-id.js';
import { recoverThread, startNextQueued } from './unstick.js';
import { type TurnView, turnView } from './view.js';

/** Accepts a turn: starts it, queues it (onBusy: enqueue) or refuses it (onBusy: reject). */
export async function submitTurn(
  ctx: TurnContext,
  principal: Principal,
  sessionKey: string,
  input: { input: string; idempotencyKey?: string },
): Promise<{ turn: TurnView; created: boolean }> {
  return retryOptimistic(
    async () => {
      const thread = await requireLive(ctx, principal.tenant, sessionKey);
      const agent = agentOf(ctx, thread);
      const turnId = submittedTurnId(thread.threadId, input.idempotencyKey);
      if (input.idempotencyKey) {
        const existing = await ctx.store.getTurn(thread.tenant, sessionKey, turnId);
        if (existing)
          return { turn: turnView(await repeat(ctx, thread, agent, existing, input.input)), created: false };
      }
      const now = ctx.now();
      const turn = newTurn(thread, turnId, input.input, now, input.idempotencyKey);
      const busy = holdsLiveLease(thread, now);
      let outcome: TransitionOutcome;
      if (!busy && thread.queuedTurns === 0) {
        const claim = claimTurn(thread, agent, turn, now, 'new');
        // The version condition closes the race with another submit or a finish between our read and this
        // write; putTurn refuses a concurrent repeat of the same idempotency key; the slot keeps the limit.
        outcome = await ctx.store.transition(thread, claim.after, undefined, [], claim.writes);
        if (outcome.ok) {
          await startExecution(ctx, claim.after, claim.turn, agent);
          return { turn: turnView(claim.turn), created: true };
        }
      } else {
        if ((agent.onBusy ?? ctx.config.threadManagement.onBusy) === 'reject' && busy) {
          throw new TurnError(
            'thread_busy',
            `thread "${sessionKey}" is running turn ${thread.lease!.turnId}; one turn runs at a time`,
            { runningTurnId: thread.lease!.turnId },
          );
        }
        // Queue behind the running turn (or behind turns that were queued before a lease expired).
        const queue = enqueueTurn(thread, turn);
        // The version condition gives each queued turn its own queueSeq (two submits at once cannot take one).
        outcome = await ctx.store.transition(thread, queue.after, undefined, [], queue.writes);
        if (outcome.ok) {
          if (!busy) await startNextQueued(ctx, principal.tenant, sessionKey);
          return {
            turn: turnView((await ctx.store.getTurn(thread.tenant, sessionKey, turnId)) ?? queue.queued),
            created: true,
          };
        }
      }
      if (outcome.reason === 'turn_exists') {
        // A concurrent repeat with the same idempotency key won: answer with its turn.
        const existing = await ctx.store.getTurn(thread.tenant, sessionKey, turnId);
        if (existing)
          return { turn: turnView(await repeat(ctx, thread, agent, existing, input.input)), created: false };
      }
      if (outcome.reason === 'turn_limit') {
        throw turnLimitReached(thread, agent, {
          limit: 'maxConcurrentTurns',
          max: agent.maxConcurrentTurns,
          agent: thread.agent,
        });
      }
      // The takeover of an expired lease found its turn no longer running (an orphan): recover
      // releases it without failing anything, then decide again.
      if (outcome.reason === 'turn_state' && thread.lease) await recoverThread(ctx, principal.tenant, sessionKey);
      // 'version': another writer changed the thread between our read and write; decide again.
      return undefined;
    },
    () => {
      throw threadConflict(sessionKey);
    },
  );
}

/**
 * A repeated submission: the same turn, never a second one. If the turn holds the lease, its
 * execution is started again, which is a no-op when it runs (the name is the turnId) and recovers
 * a submit that died between its claim and its StartExecution.
 */
async function repeat(
  ctx: TurnContext,
  thread: Thread,
  agent: AgentConfig,
  existing: Turn,
  input: string,
): Promise<Turn> {
  if (existing.input !== input) {
    throw new TurnError('idempotency_key_reused', 'this idempotencyKey was used for a different input on this thread', {
      turnId: existing.turnId,
    });
  }
  // Only re-issue the start: a failure here says nothing about the execution the first attempt
  // may have started, so it must not fail the turn (the lease's expiry covers a start that never was).
  if (existing.status === 'running' && thread.lease?.turnId === existing.turnId)
    await ctx.workflow.start(existing.turnId, { turn: turnRef(thread, existing, agent) });
  return existing;
}
