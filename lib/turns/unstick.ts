import type { TurnContext } from './context.js';
import { releaseStaleLease } from './recover.js';
import { startQueueHead } from './start-next.js';

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

/**
 * Unsticks a thread: releases a stale lease, then starts the queue when the release says turns can
 * start. A queue head blocked by an orphan lease sends it round again (release, then start).
 * `outcome` is `started` if a turn started, else what the first release did.
 */
export async function recoverThread(ctx: TurnContext, tenant: string, sessionKey: string): Promise<Recovery> {
  const effects: RecoveryEffects = { leaseReleased: false, turnFailed: false, turnStarted: false, gaveUp: false };
  let outcome: 'none' | 'released' | undefined;
  for (;;) {
    const release = await releaseStaleLease(ctx, tenant, sessionKey);
    effects.leaseReleased ||= release.released;
    effects.turnFailed ||= release.turnFailed;
    effects.gaveUp ||= release.gaveUp;
    outcome ??= release.released ? 'released' : 'none';
    if (!release.startQueue) return { outcome, ...effects };
    const next = await startQueueHead(ctx, tenant, sessionKey);
    if (next.kind === 'none') return { outcome, ...effects };
    if (next.kind === 'started') {
      // A takeover: the claim took the expired lease and failed its turn.
      const tookOver = next.tookOver ? { leaseReleased: true, turnFailed: true } : {};
      return { ...effects, ...tookOver, turnStarted: true, outcome: 'started' };
    }
    // 'orphan': the lease the head would take over names a final turn; release it, then start again.
  }
}

/** Starts the oldest queued turn if the thread is free, recovering an orphan lease in its way; whether one started. */
export async function startNextQueued(ctx: TurnContext, tenant: string, sessionKey: string): Promise<boolean> {
  const next = await startQueueHead(ctx, tenant, sessionKey);
  if (next.kind === 'orphan') return (await recoverThread(ctx, tenant, sessionKey)).outcome === 'started';
  return next.kind === 'started';
}
