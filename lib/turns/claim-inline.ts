import type { Thread } from '../threads/model.js';
import { retryOptimistic, threadConflict } from '../threads/optimistic.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import { claimTurn } from './claim.js';
import type { TurnContext } from './context.js';
import { TurnError } from './errors.js';
import { holdsLiveLease, type LeaseGuard } from './lease.js';
import { FINAL_STATUSES, type Turn } from './model.js';
import { newTurn } from './new-turn.js';
import { agentOf, requireLive, turnLimitReached } from './thread-of.js';

/**
 * Claims a thread for a turn that runs in the caller's process rather than as an execution (a
 * sub-agent's task in its child thread): same lease, slot and messages as any turn, refused while
 * another turn holds the thread, and only while the parent turn (`guard`) still holds its lease.
 * A retry whose first attempt already finished gets that turn back (`finished`).
 */
export async function claimInline(
  ctx: TurnContext,
  tenant: string,
  sessionKey: string,
  turnId: string,
  input: string,
  guard: LeaseGuard,
  timeoutSeconds: number,
): Promise<{ claimed: TurnRef; thread: Thread; turn: Turn } | { finished: Turn }> {
  return retryOptimistic(
    async () => {
      const thread = await requireLive(ctx, tenant, sessionKey);
      const existing = await ctx.store.getTurn(tenant, sessionKey, turnId);
      if (existing && FINAL_STATUSES.includes(existing.status)) return { finished: existing };
      const now = ctx.now();
      if (existing || holdsLiveLease(thread, now)) {
        throw new TurnError('thread_busy', `thread "${sessionKey}" is running turn ${thread.lease?.turnId ?? turnId}`, {
          runningTurnId: thread.lease?.turnId ?? turnId,
        });
      }
      const agent = agentOf(ctx, thread);
      const claim = claimTurn(thread, agent, newTurn(thread, turnId, input, now), now, 'new');
      // The version condition closes the race with another claim of the child thread; assertLease closes
      // the one with the parent losing its lease (a takeover or restart) between our read and this write.
      const outcome = await ctx.store.transition(
        thread,
        claim.after,
        undefined,
        [],
        [...claim.writes, { kind: 'assertLease', ...guard }],
      );
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
      if (outcome.reason === 'turn_limit') throw turnLimitReached(thread, agent, { agent: thread.agent });
      return undefined;
    },
    () => {
      throw threadConflict(sessionKey);
    },
  );
}
