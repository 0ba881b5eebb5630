import { setTimeout as sleep } from 'node:timers/promises';
import { ThreadError } from './errors.js';

/** How often a read-decide-write step is retried after losing an optimistic race. */
export const OPTIMISTIC_ATTEMPTS = 60;

/**
 * Waits before retry `attempt` (0 = first try, no wait) of a step that lost a race: full jitter,
 * so writers contending for one thread item spread out instead of colliding again in lockstep.
 */
async function optimisticBackoff(attempt: number): Promise<void> {
  if (attempt === 0) return;
  await sleep(Math.random() * Math.min(200, 4 * 2 ** Math.min(attempt, 6)));
}

/**
 * Runs a read-decide-write step until it returns a result: `step` returns undefined when its
 * conditional write lost a race, and is run again (after a backoff) on a fresh read. When every
 * attempt lost, `exhausted` answers instead (or throws the conflict the caller names).
 */
export async function retryOptimistic<T>(
  step: (attempt: number) => Promise<T | undefined>,
  exhausted: () => T,
): Promise<T> {
  for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
    await optimisticBackoff(attempt);
    const result = await step(attempt);
    if (result !== undefined) return result;
  }
  return exhausted();
}

/** The error of a thread change that lost every optimistic attempt to concurrent writers. */
export function threadConflict(sessionKey: string): ThreadError {
  return new ThreadError('conflict', `thread "${sessionKey}" is being changed by other requests; retry`, {
    sessionKey,
  });
}
