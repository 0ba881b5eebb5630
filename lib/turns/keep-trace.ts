import { retryOptimistic } from '../threads/optimistic.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import type { TurnContext } from './context.js';
import type { TurnTrace } from './trace.js';

/**
 * Saves the trace a failing phase collected on its turn while the turn still runs under this lease,
 * so the failure recorded next (which keeps the stored turn's fields) shows how far it got. Only on
 * the failure path (one transaction), best effort: a turn already final, or a lease lost, is left alone.
 * Not called for errors the workflow retries (`retriedByWorkflow`: throttling), which would only add load.
 */
export async function keepTrace(ctx: TurnContext, ref: TurnRef, trace: TurnTrace): Promise<void> {
  await retryOptimistic<'kept' | 'left'>(
    async () => {
      const [thread, turn] = await Promise.all([
        ctx.store.get(ref.tenant, ref.sessionKey),
        ctx.store.getTurn(ref.tenant, ref.sessionKey, ref.turnId),
      ]);
      if (
        !thread ||
        turn?.status !== 'running' ||
        thread.lease?.turnId !== ref.turnId ||
        thread.lease.fencingToken !== ref.fencingToken
      )
        return 'left';
      // The thread's version condition closes the race with a finish or takeover between our read and
      // this write (the lease we checked is still there); `expected: running` keeps a final turn final.
      const outcome = await ctx.store.transition(
        thread,
        { ...thread, version: thread.version + 1 },
        undefined,
        [],
        [{ kind: 'updateTurn', turn: { ...turn, trace }, expected: 'running' }],
      );
      if (outcome.ok) return 'kept';
      return outcome.reason === 'version' ? undefined : 'left';
    },
    () => 'left',
  );
}
