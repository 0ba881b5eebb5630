import type { ThreadStore } from '../threads/ports.js';
import type { SubAgentOutcome, Turn } from '../turns/model.js';
import { idempotentTurnId } from '../turns/service.js';
import type { PhaseTrace } from '../turns/trace.js';
import { causeMessage, type TurnRef } from '../workflows/turn-workflow.js';

/** A sub-agent result as the Map state collects it: an outcome, or the caught error of a failed item. */
export type RawSubResult =
  | SubAgentOutcome
  | { agent: string; sessionKey: string; status: 'failed'; error: { Error?: string; Cause?: string } };

/** Longest sub-agent reply carried in the workflow's state (its 256 KiB limit); the child thread keeps it whole. */
const MAX_REPLY_IN_WORKFLOW = 8_000;

/** The sub-agent's phase trace its child turn kept. */
function subTrace(turn: Turn): PhaseTrace | undefined {
  return turn.trace?.phases.find((phase) => phase.phase === 'sub');
}

/**
 * What the workflow carries of a finished child turn: no phase trace (up to ~8 KB each, on every Map
 * item, would overflow the 256 KiB state with a dozen children); the coalesce phase reads it from the child turn.
 */
export function childOutcome(turn: Turn): SubAgentOutcome {
  const reply =
    turn.reply && turn.reply.length > MAX_REPLY_IN_WORKFLOW
      ? `${turn.reply.slice(0, MAX_REPLY_IN_WORKFLOW)}… [truncated; the whole answer is in ${turn.sessionKey}]`
      : turn.reply;
  return {
    agent: turn.agent,
    sessionKey: turn.sessionKey,
    turnId: turn.turnId,
    status: turn.status === 'succeeded' ? 'succeeded' : turn.status === 'timed_out' ? 'timed_out' : 'failed',
    ...(reply !== undefined ? { reply } : {}),
    ...(turn.error !== undefined ? { error: turn.error } : {}),
    ...(turn.startedAt ? { startedAt: turn.startedAt } : {}),
    ...(turn.endedAt ? { endedAt: turn.endedAt } : {}),
    ...(turn.startedAt && turn.endedAt ? { durationMs: Date.parse(turn.endedAt) - Date.parse(turn.startedAt) } : {}),
  };
}

/** A caught Map item error becomes a failed or timed-out outcome with a short reason. */
export function normaliseResult(result: RawSubResult): SubAgentOutcome {
  if (result.status !== 'failed' || typeof result.error !== 'object' || result.error === null)
    return result as SubAgentOutcome;
  const { Error: name = 'Error', Cause: cause } = result.error;
  if (name === 'States.Timeout')
    return {
      agent: result.agent,
      sessionKey: result.sessionKey,
      status: 'timed_out',
      error: 'the sub-agent did not answer within its timeout',
    };
  return {
    agent: result.agent,
    sessionKey: result.sessionKey,
    status: 'failed',
    error: `${name}: ${causeMessage(cause)}`.slice(0, 500),
  };
}

/**
 * The outcome with the sub-agent's phase trace (and, for a failed or timed-out item, which carries
 * only the caught error, its timings) from its child turn (same id on every attempt): the Map items
 * carry no trace, so 256 KiB of workflow state holds many children. One read per item that names
 * its child turn (two for a caught error, whose turn id needs the child thread's), all items in
 * parallel; a child turn still running (the state timed out first) adds its start only.
 */
export async function withChildTrace(
  store: Pick<ThreadStore, 'get' | 'getTurn'>,
  ref: TurnRef,
  outcome: SubAgentOutcome,
): Promise<SubAgentOutcome> {
  try {
    const turnId =
      outcome.turnId ??
      (await store
        .get(ref.tenant, outcome.sessionKey)
        .then((child) => child && idempotentTurnId(child.threadId, ref.turnId)));
    const turn = turnId && (await store.getTurn(ref.tenant, outcome.sessionKey, turnId));
    if (!turn) return outcome;
    const { status: _status, reply: _reply, error: _error, ...known } = childOutcome(turn);
    const trace = subTrace(turn);
    return { ...outcome, ...known, ...(trace ? { trace } : {}) };
  } catch {
    // The trace explains a failure; it must not cause one.
    return outcome;
  }
}
