import type { AgentConfig } from '../config/schema.js';
import { ThreadError } from '../threads/errors.js';
import type { Thread } from '../threads/model.js';
import type { TurnContext } from './context.js';
import { TurnError } from './errors.js';

/** The thread a turn is submitted to, which must exist and not be terminated. */
export async function requireLive(ctx: TurnContext, tenant: string, sessionKey: string): Promise<Thread> {
  const thread = await ctx.store.get(tenant, sessionKey);
  if (!thread) throw new ThreadError('thread_not_found', `no thread "${sessionKey}"`, { sessionKey });
  if (thread.status === 'terminated')
    throw new ThreadError('thread_terminated', `thread "${sessionKey}" is terminated`, { sessionKey });
  return thread;
}

/** The configured agent of a thread; a thread whose agent left the config runs no turn. */
export function agentOf(ctx: TurnContext, thread: Thread): AgentConfig {
  const agent = ctx.config.agents[thread.agent];
  if (!agent)
    throw new TurnError('agent_unavailable', `agent "${thread.agent}" of this thread is no longer configured`, {
      agent: thread.agent,
    });
  return agent;
}

/** The error of an agent at its maxConcurrentTurns (`details` as the caller reports them). */
export function turnLimitReached(thread: Thread, agent: AgentConfig, details: Record<string, unknown>): TurnError {
  return new TurnError(
    'turn_limit_reached',
    `agent "${thread.agent}" already runs its maximum of ${agent.maxConcurrentTurns} turns`,
    details,
  );
}
