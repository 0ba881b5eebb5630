import { z } from 'zod';
import { turns } from '../shared/context.js';
import { logger } from '../shared/logger.js';

const turnRef = z.object({
  tenant: z.string(),
  sessionKey: z.string(),
  turnId: z.string(),
  agent: z.string(),
  fencingToken: z.number().int(),
  timeoutSeconds: z.number().int().positive(),
  maxChildren: z.number().int().positive(),
});
const outcome = z.object({ agent: z.string(), sessionKey: z.string(), status: z.enum(['succeeded', 'failed', 'timed_out']), reply: z.string().optional(), error: z.string().optional(), startedAt: z.string().optional(), endedAt: z.string().optional() });

const controlEvent = z.discriminatedUnion('action', [
  z.object({ action: z.literal('complete'), turn: turnRef, final: z.object({ reply: z.string(), subAgents: z.array(outcome) }) }),
  z.object({ action: z.literal('fail'), turn: turnRef, error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).passthrough() }),
]);

/** The workflow's last step: record the one reply (or the failure), release the lease and counters. */
export async function handler(raw: unknown): Promise<{ turnId: string; result: 'finished' | 'stale' }> {
  const event = controlEvent.parse(raw);
  logger.appendKeys({ tenant: event.turn.tenant, sessionKey: event.turn.sessionKey, turnId: event.turn.turnId, agent: event.turn.agent });
  if (event.action === 'complete') {
    const result = await turns.finish(event.turn, { status: 'succeeded', reply: event.final.reply, subAgents: event.final.subAgents });
    return { turnId: event.turn.turnId, result };
  }
  const timedOut = event.error.Error === 'States.Timeout';
  const reason = timedOut ? `the turn did not finish within ${event.turn.timeoutSeconds} s` : `${event.error.Error ?? 'Error'}: ${causeMessage(event.error.Cause)}`;
  if (timedOut) logger.warn('turn timed out', { timeoutSeconds: event.turn.timeoutSeconds });
  const result = await turns.finish(event.turn, { status: timedOut ? 'timed_out' : 'failed', error: reason.slice(0, 1000) });
  return { turnId: event.turn.turnId, result };
}

/** The message inside a Step Functions error Cause (a Lambda error's JSON, or plain text). */
function causeMessage(cause: string | undefined): string {
  if (!cause) return 'no cause given';
  try {
    return (JSON.parse(cause) as { errorMessage?: string }).errorMessage ?? cause;
  } catch {
    return cause;
  }
}
