import * as z from 'zod';
import type { RawSubResult } from '../../lib/agents/runtime.js';
import { processRedactor } from '../../lib/secrets/redactor.js';
import { turnTraceSchema } from '../../lib/turns/trace.js';
import { agentRuntime } from '../shared/deps/agent-runtime.js';
import { correlate, logger } from '../shared/logger.js';
import { workerHandler } from '../shared/worker-handler.js';
import { turnRefSchema } from '../shared/workflow-events.js';

const planItem = z.object({
  agent: z.string(),
  task: z.string(),
  sessionKey: z.string(),
  timeoutSeconds: z.number().int().positive(),
});

/** The payloads the turn workflow sends to an agent Lambda. */
const agentEvent = z.discriminatedUnion('phase', [
  z.object({ phase: z.literal('main'), turn: turnRefSchema }),
  z.object({ phase: z.literal('sub'), turn: turnRefSchema, item: planItem }),
  z.object({
    phase: z.literal('coalesce'),
    turn: turnRefSchema,
    plan: z
      .object({
        coalesceWith: z.string(),
        coalesceTimeoutSeconds: z.number().int().positive(),
        trace: turnTraceSchema.optional(),
      })
      .passthrough(),
    results: z.array(z.any()),
  }),
]);

/**
 * The Lambda of one agent type. Each agent is deployed as its own function (its own IAM role), so
 * a function refuses to act as any agent but the one it was deployed for.
 */
export function agentHandler(agentName: string) {
  return workerHandler(async (raw: unknown) => {
    const event = agentEvent.parse(raw);
    const acting =
      event.phase === 'main' ? event.turn.agent : event.phase === 'sub' ? event.item.agent : event.plan.coalesceWith;
    if (!agentName || acting !== agentName) throw new Error(`this function runs agent "${agentName}", not "${acting}"`);
    // Every line of a phase names the turn's thread and turn and the agent acting (a sub-agent's
    // lines also name the child thread it runs in).
    correlate({
      tenant: event.turn.tenant,
      sessionKey: event.turn.sessionKey,
      turnId: event.turn.turnId,
      agent: agentName,
    });
    if (event.phase === 'sub') logger.appendKeys({ childSessionKey: event.item.sessionKey });
    const started = Date.now();
    try {
      const result =
        event.phase === 'main'
          ? await agentRuntime.main(event.turn)
          : event.phase === 'sub'
            ? await agentRuntime.sub(event.turn, event.item)
            : await agentRuntime.coalesce(
                event.turn,
                event.plan.coalesceWith,
                event.results as RawSubResult[],
                event.plan.coalesceTimeoutSeconds,
                event.plan.trace,
              );
      logger.info('agent phase finished', { phase: event.phase, durationMs: Date.now() - started });
      // What goes back to the workflow leaves the process too.
      return processRedactor.redactDeep(result);
    } catch (error) {
      // The error's message becomes the workflow's Cause: scrub it like any other output.
      if (error instanceof Error) error.message = processRedactor.redact(error.message);
      logger.warn('agent phase failed', {
        phase: event.phase,
        durationMs: Date.now() - started,
        error: error as Error,
      });
      throw error;
    }
  });
}

/** The deployed entry point: AGENT_NAME is set per function by CDK. */
export const handler = agentHandler(process.env.AGENT_NAME ?? '');
