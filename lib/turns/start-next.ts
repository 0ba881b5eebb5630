import { retryOptimistic } from '../threads/optimistic.js';
import { claimQueueHead } from './claim.js';
import type { TurnContext } from './context.js';
import { startExecution } from './execution.js';
import { queueHeadMayStart } from './queue.js';
import { agentOf } from './thread-of.js';

/**
 * What one attempt to start a thread's queue head did: `started` (`tookOver`: its claim took an
 * expired lease and failed that lease's turn), `none` (nothing to start, or no slot free), or
 * `orphan`: the lease it would take over names a turn no longer running, which recovery releases.
 */
export type StartNext = { kind: 'started'; tookOver: boolean } | { kind: 'none' } | { kind: 'orphan' };

/** Starts the oldest queued turn if the thread is free; never recovers (its caller decides on `orphan`). */
export async function startQueueHead(ctx: TurnContext, tenant: string, sessionKey: string): Promise<StartNext> {
  return retryOptimistic<StartNext>(
    async () => {
      const thread = await ctx.store.get(tenant, sessionKey);
      const now = ctx.now();
      if (!queueHeadMayStart(thread, ctx.config.agents, now)) return { kind: 'none' };
      const head = await ctx.store.queueHead(tenant, sessionKey);
      const queued = head && (await ctx.store.getTurn(tenant, sessionKey, head.turnId));
      if (!head || !queued) return { kind: 'none' };
      const agent = agentOf(ctx, thread);
      const claim = claimQueueHead(thread, agent, queued, head, now);
      // The version condition closes the race with another starter or a submit between our read and this
      // write; `expected: queued` starts the turn once; the slot reservation keeps maxConcurrentTurns.
      const outcome = await ctx.store.transition(thread, claim.after, undefined, [], claim.writes);
      if (outcome.ok) {
        await startExecution(ctx, claim.after, claim.turn, agent);
        // A takeover: this claim took the expired lease and failed its turn (its failTurn only lands on a running turn).
        return { kind: 'started', tookOver: thread.lease !== undefined };
      }
      // The agent is at maxConcurrentTurns: the turn stays queued until a slot frees up.
      if (outcome.reason === 'turn_limit') return { kind: 'none' };
      // An orphan lease (see submit): recovery releases it and starts the queue itself.
      if (outcome.reason === 'turn_state' && thread.lease) return { kind: 'orphan' };
      return undefined;
    },
    () => ({ kind: 'none' }),
  );
}
