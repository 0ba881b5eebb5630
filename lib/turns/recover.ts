import type { Thread } from '../threads/model.js';
import { retryOptimistic } from '../threads/optimistic.js';
import type { ThreadWrite } from '../threads/ports.js';
import { LEASE_EXPIRED_ERROR } from './claim.js';
import type { TurnContext } from './context.js';
import { leaseTakeover } from './lease.js';

/** What one release pass did, and whether the thread's queue should start next (its caller decides). */
export interface Release {
  /** Its transition took the lease off the thread. */
  released: boolean;
  /** Its transition failed the lease's running turn (not an orphan's, which is final already). */
  turnFailed: boolean;
  /** Turns wait and may start: after the release, or instead of it (a queued turn takes an expired lease over). */
  startQueue: boolean;
  /** Every optimistic attempt lost a race: it decided nothing. */
  gaveUp: boolean;
}

const NOTHING: Release = { released: false, turnFailed: false, startQueue: false, gaveUp: false };

/**
 * Releases the lease of a turn that will never finish: its lease expired (the process died) or its
 * turn is already final or missing (an orphan lease). A running turn is marked failed and its slot
 * released, unless a queued turn can take the expired lease over (then it says so and writes nothing).
 */
export async function releaseStaleLease(ctx: TurnContext, tenant: string, sessionKey: string): Promise<Release> {
  return retryOptimistic<Release>(
    async () => {
      const thread = await ctx.store.get(tenant, sessionKey);
      if (!thread || thread.status === 'terminated') return NOTHING;
      const canStart = thread.queuedTurns > 0 && thread.agent in ctx.config.agents;
      if (!thread.lease) return { ...NOTHING, startQueue: canStart };
      const turn = await ctx.store.getTurn(tenant, sessionKey, thread.lease.turnId);
      const takeover = leaseTakeover(thread, turn, ctx.now());
      if (takeover === 'denied') return NOTHING;
      // An expired lease of a running turn passes straight to the next queued turn (its claim fails it).
      if (takeover === 'expired' && canStart) return { ...NOTHING, startQueue: true };
      const orphan = takeover === 'orphaned';
      const after: Thread = { ...thread, version: thread.version + 1, lease: undefined };
      const writes: ThreadWrite[] = orphan
        ? []
        : [{ kind: 'failTurn', turnId: thread.lease.turnId, error: LEASE_EXPIRED_ERROR, at: ctx.now().toISOString() }];
      // The version condition closes the race with the turn's own finish, a takeover or another recover
      // between our read and this write: exactly one of them releases the lease and its slot.
      const outcome = await ctx.store.transition(
        thread,
        after,
        undefined,
        [{ agent: thread.agent, runningTurns: -1 }],
        writes,
      );
      if (!outcome.ok) return undefined;
      // The failTurn write only lands on a turn still running.
      return { released: true, turnFailed: !orphan, startQueue: canStart, gaveUp: false };
    },
    () => ({ ...NOTHING, gaveUp: true }),
  );
}
