import * as z from 'zod';
import { phaseTraceSchema, turnTraceSchema } from '../../lib/turns/trace.js';
import { causeMessage } from '../../lib/workflows/turn-workflow.js';
import { turns } from '../shared/deps/turns.js';
import { correlate, logger } from '../shared/logger.js';
import { workerHandler } from '../shared/worker-handler.js';
import { turnRefSchema } from '../shared/workflow-events.js';

const outcome = z.object({
  agent: z.string(),
  sessionKey: z.string(),
  turnId: z.string().optional(),
  status: z.enum(['succeeded', 'failed', 'timed_out']),
  reply: z.string().optional(),
  error: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  durationMs: z.number().optional(),
  trace: phaseTraceSchema.optional(),
});

/**
 * EventBridge "Step Functions Execution Status Change" for an execution that ended without
 * reaching RecordFailure (States.Runtime, States.DataLimitExceeded, a stop, an execution timeout).
 */
const executionEnded = z.object({
  source: z.literal('aws.states'),
  detail: z.object({
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
    name: z.string(),
    input: z.string(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

/** The turn's result: a direct reply (no sub-agents) or the coalesce phase's; the trace is optional (never a required path). */
const completion = z.object({
  reply: z.string(),
  subAgents: z.array(outcome).default([]),
  trace: turnTraceSchema.optional(),
});

const controlEvent = z.discriminatedUnion('action', [
  // `final` is `{ value }` (the main or coalesce result, whole); the flat shape is that of executions
  // started under the previous definition, still running during a deploy.
  z.object({
    action: z.literal('complete'),
    turn: turnRefSchema,
    final: z.union([z.object({ value: completion }).transform(({ value }) => value), completion]),
  }),
  z.object({
    action: z.literal('fail'),
    turn: turnRefSchema,
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).passthrough(),
  }),
]);

/**
 * The workflow's last step: record the one reply (or the failure), release the lease and counters.
 * Also the target of the rule for executions that ended without reaching their last step.
 */
export const handler = workerHandler(control);

async function control(raw: unknown): Promise<{ turnId: string; result: 'finished' | 'stale' }> {
  const ended = executionEnded.safeParse(raw);
  if (ended.success) {
    // Fenced and idempotent: a turn the workflow already finished is left as it is ("stale").
    const { turn } = z.object({ turn: turnRefSchema }).parse(JSON.parse(ended.data.detail.input));
    correlate({ tenant: turn.tenant, sessionKey: turn.sessionKey, turnId: turn.turnId, agent: turn.agent });
    const { status, error, cause } = ended.data.detail;
    const result = await turns.finish(turn, {
      status: 'failed',
      error:
        `the execution ended ${status}${error ? `: ${error}` : ''}${cause ? ` (${causeMessage(cause)})` : ''}`.slice(
          0,
          1000,
        ),
    });
    logger.info('execution ended without finishing its turn', { executionStatus: status, result });
    return { turnId: turn.turnId, result };
  }
  const event = controlEvent.parse(raw);
  correlate({
    tenant: event.turn.tenant,
    sessionKey: event.turn.sessionKey,
    turnId: event.turn.turnId,
    agent: event.turn.agent,
  });
  if (event.action === 'complete') {
    const result = await turns.finish(event.turn, {
      status: 'succeeded',
      reply: event.final.reply,
      subAgents: event.final.subAgents,
      ...(event.final.trace ? { trace: event.final.trace } : {}),
    });
    logger.info('turn finished', { status: 'succeeded', result });
    return { turnId: event.turn.turnId, result };
  }
  const timedOut = event.error.Error === 'States.Timeout';
  const reason = timedOut
    ? `the turn did not finish within ${event.turn.timeoutSeconds} s`
    : `${event.error.Error ?? 'Error'}: ${causeMessage(event.error.Cause)}`;
  if (timedOut) logger.warn('turn timed out', { timeoutSeconds: event.turn.timeoutSeconds });
  const result = await turns.finish(event.turn, {
    status: timedOut ? 'timed_out' : 'failed',
    error: reason.slice(0, 1000),
  });
  logger.info('turn finished', { status: timedOut ? 'timed_out' : 'failed', result });
  return { turnId: event.turn.turnId, result };
}
