import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import type { AuditEntry } from '../../lib/audit/chain.js';
import { LimitReachedError } from '../../lib/threads/errors.js';
import type { Thread } from '../../lib/threads/model.js';
import type { CounterDelta, SpawnLimits, ThreadWrite, TransitionOutcome } from '../../lib/threads/ports.js';
import { FINAL_STATUSES } from '../../lib/turns/model.js';
import { METRIC } from './metric-names.js';
import { emitMetric } from './metrics.js';

/**
 * The table adapter of the functions, counting every turn that ends. A turn ends in exactly one
 * committed transition (a running turn replaced by a final one, or failed where its lease expired),
 * whichever function commits it (turn-control, an agent's inline sub-agent turn, a start that
 * failed, the recovery), so counting committed transitions counts each turn once with no extra read:
 * TurnsSucceeded / TurnsFailed / TurnsTimedOut{agent}, and TurnDuration{agent} (lease to finish).
 * Queued turns failed by a terminate never ran and are not counted.
 *
 * It also counts every reservation a full limit refuses, the moment it is refused:
 * LimitReached{agent, limit} (maxActiveThreads or maxThreads on a spawn, maxConcurrentTurns on a
 * turn start: a 429, or a queued turn left waiting for a slot). The utilisation gauges come from the
 * idle sweep only (a transaction returns no counter values, and a read per claim would cost more
 * than the gauge is worth), so a spike between two sweeps shows up here instead.
 */
export class MeteredThreadStore extends DynamoThreadStore {
  override async create(thread: Thread, audit: AuditEntry, limits: SpawnLimits): Promise<void> {
    try {
      await super.create(thread, audit, limits);
    } catch (error) {
      if (error instanceof LimitReachedError)
        emitMetric(METRIC.limitReached, { agent: thread.agent, limit: error.limit });
      throw error;
    }
  }

  override async transition(
    before: Thread,
    after: Thread,
    audit: AuditEntry | undefined,
    counters: CounterDelta[],
    writes: ThreadWrite[] = [],
  ): Promise<TransitionOutcome> {
    const outcome = await super.transition(before, after, audit, counters, writes);
    if (outcome.ok) for (const write of writes) countTurnEnd(before, write);
    else if (outcome.reason === 'turn_limit') {
      const slot = writes.find((write) => write.kind === 'reserveTurnSlot');
      emitMetric(METRIC.limitReached, { agent: slot?.agent ?? before.agent, limit: 'maxConcurrentTurns' });
    }
    return outcome;
  }
}

const STATUS_METRIC = {
  succeeded: METRIC.turnsSucceeded,
  failed: METRIC.turnsFailed,
  timed_out: METRIC.turnsTimedOut,
} as const;

function countTurnEnd(thread: Thread, write: ThreadWrite): void {
  if (write.kind === 'failTurn') {
    emitMetric(METRIC.turnsFailed, { agent: thread.agent });
    return;
  }
  if (write.kind !== 'updateTurn' || write.expected !== 'running' || !FINAL_STATUSES.includes(write.turn.status))
    return;
  const { turn } = write;
  emitMetric(STATUS_METRIC[turn.status as keyof typeof STATUS_METRIC], { agent: turn.agent });
  if (turn.startedAt && turn.endedAt)
    emitMetric(
      METRIC.turnDuration,
      { agent: turn.agent },
      Date.parse(turn.endedAt) - Date.parse(turn.startedAt),
      MetricUnit.Milliseconds,
    );
}
