import { setTimeout as sleep } from 'node:timers/promises';

/** How often a read-decide-write step is retried after losing an optimistic race. */
export const OPTIMISTIC_ATTEMPTS = 60;

/**
 * Waits before retry `attempt` (0 = first try, no wait) of a step that lost a race: full jitter,
 * so writers contending for one thread item spread out instead of colliding again in lockstep.
 */
export async function optimisticBackoff(attempt: number): Promise<void> {
  if (attempt === 0) return;
  await sleep(Math.random() * Math.min(200, 4 * 2 ** Math.min(attempt, 6)));
}
