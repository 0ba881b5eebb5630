import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { LiveThreadIndex } from '../threads/ports.js';
import type { TurnService } from '../turns/service.js';
import { walkLiveThreads } from './live-threads.js';
import type { SweepCursor } from './ports.js';

/** The shortest lease any agent's turn can hold (3 × timeout + 5 s, see TurnService). */
export function shortestLeaseMs(config: Config): number {
  return Math.min(...Object.values(config.agents).map((agent) => 3 * durationMs(agent.timeout) + 5_000));
}

/**
 * Whether a live thread, as read, needs TurnService.recover: its lease expired (the process running
 * its turn died), or turns wait in its queue with no lease to start them. A live lease does not.
 */
export function needsRecovery(thread: Pick<Thread, 'status' | 'lease' | 'queuedTurns'>, now: Date): boolean {
  if (thread.status !== 'active') return false;
  return thread.lease ? Date.parse(thread.lease.leaseExpiresAt) <= now.getTime() : thread.queuedTurns > 0;
}

/**
 * One bounded pass over the live threads recovering those whose lease has expired or whose queue is
 * stranded. A lease is taken when the thread becomes active, so only threads inactive for longer than
 * the shortest lease can hold an expired one: only those are read. Stops after `budgetMs`, returning
 * where the next pass continues.
 */
export async function recoverStaleTurns(
  config: Config,
  store: LiveThreadIndex,
  turns: TurnService,
  options: {
    now?: Date;
    cursor?: SweepCursor;
    budgetMs?: number;
    onError?: (error: unknown, sessionKey: string) => void;
  } = {},
): Promise<{ changed: number; cursor?: SweepCursor }> {
  const { now = new Date(), budgetMs = 40_000 } = options;
  let changed = 0;
  const walk = await walkLiveThreads(
    store,
    async (thread) => {
      if (needsRecovery(thread, now) && (await turns.recover(thread.tenant, thread.sessionKey)) !== 'none')
        changed += 1;
    },
    {
      activeBefore: new Date(now.getTime() - shortestLeaseMs(config)).toISOString(),
      cursor: options.cursor,
      budgetMs,
      onError: options.onError,
    },
  );
  return { changed, ...(walk.cursor ? { cursor: walk.cursor } : {}) };
}
