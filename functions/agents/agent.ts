import { z } from 'zod';
import type { RawSubResult } from '../../lib/agents/runtime.js';
import { processRedactor } from '../../lib/secrets/redactor.js';
import { agentRuntime } from '../shared/context.js';
import { logger } from '../shared/logger.js';
import { flushMetrics } from '../shared/metrics.js';
import { turnRefSchema } from '../shared/workflow-events.js';

const planItem = z.object({ agent: z.string(), task: z.string(), sessionKey: z.string(), timeoutSeconds: z.number().int().positive() });

/** The payloads the turn workflow sends to an agent Lambda. */
const agentEvent = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('main'), turn: turnRefSchema }),
  z.object({ phase: z.literal('sub'), turn: turnRefSchema, item: planItem }),
  z.object({ phase: z.literal('coalesce'), turn: turnRefSchema, plan: z.object({ mergeWith: z.string(), mergeTimeoutSeconds: z.number().int().positive() }).passthrough(), results: z.array(z.any()) }),
]);

/**
 * The Lambda of one agent type. Each agent is deployed as its own function (its own IAM role), so
 * a function refuses to act as any agent but the one it was deployed for.
 */
export function agentHandler(agentName: string) {
  return async (raw: unknown) => {
    const event = agentEvent.parse(raw);
    const acting = event.phase === 'main' ? event.turn.agent : event.phase === 'sub' ? event.item.agent : event.plan.mergeWith;
    if (!agentName || acting !== agentName) throw new Error(`this function runs agent "${agentName}", not "${acting}"`);
    logger.appendKeys({ tenant: event.turn.tenant, sessionKey: event.turn.sessionKey, turnId: event.turn.turnId, agent: agentName });
    try {
      const result =
        event.phase === 'main'
          ? await agentRuntime.main(event.turn)
          : event.phase === 'sub'
            ? await agentRuntime.sub(event.turn, event.item)
            : await agentRuntime.coalesce(event.turn, event.plan.mergeWith, event.results as RawSubResult[], event.plan.mergeTimeoutSeconds);
      // What goes back to the workflow leaves the process too.
      return processRedactor.redactDeep(result);
    } catch (error) {
      // The error's message becomes the workflow's Cause: scrub it like any other output.
      if (error instanceof Error) error.message = processRedactor.redact(error.message);
      throw error;
    } finally {
      flushMetrics();
    }
  };
}

/** The deployed entry point: AGENT_NAME is set per function by CDK. */
export const handler = agentHandler(process.env.AGENT_NAME ?? '');
