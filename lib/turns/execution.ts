import { durationSeconds } from '../config/duration.js';
import type { AgentConfig } from '../config/schema.js';
import type { Thread } from '../threads/model.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import type { TurnContext } from './context.js';
import { finishTurn } from './finish.js';
import type { Turn } from './model.js';

/** What the workflow carries of a claimed turn. */
export function turnRef(thread: Thread, turn: Turn, agent: AgentConfig): TurnRef {
  return {
    tenant: thread.tenant,
    sessionKey: thread.sessionKey,
    turnId: turn.turnId,
    agent: thread.agent,
    fencingToken: turn.fencingToken!,
    timeoutSeconds: durationSeconds(agent.timeout),
    maxChildren: Math.max(1, agent.maxChildren),
  };
}

/** Starts a just-claimed turn's execution (named by its turnId); if that fails, fails the turn at once. */
export async function startExecution(ctx: TurnContext, thread: Thread, turn: Turn, agent: AgentConfig): Promise<void> {
  const ref = turnRef(thread, turn, agent);
  try {
    await ctx.workflow.start(turn.turnId, { turn: ref });
  } catch (error) {
    // Nothing will run the turn: give the lease and the slot back now rather than at expiry. The
    // queue is left for the recovery pass (the finish's queueWaiting is not acted on), so an outage
    // fails this turn, not every queued one.
    await finishTurn(ctx, ref, {
      status: 'failed',
      error: `the turn workflow could not be started: ${(error as Error).message}`,
    });
    throw error;
  }
}
