import type { AuditEntry } from '../audit/chain.js';
import type { AgentConfig } from '../config/schema.js';
import { nextAuditEntry } from '../threads/audit.js';
import { ThreadError } from '../threads/errors.js';
import type { Thread } from '../threads/model.js';
import { retryOptimistic } from '../threads/optimistic.js';
import type { CounterDelta, ThreadWrite } from '../threads/ports.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import type { TurnContext } from './context.js';
import { holdsLiveLease, type LeaseGuard } from './lease.js';
import { messageTtl } from './message-ttl.js';
import { FINAL_STATUSES, type SubAgentOutcome, type Turn } from './model.js';
import { type TurnTrace, withinTraceBudget } from './trace.js';
import { type TrimRange, trimMemory, trimRange } from './trim.js';

/** How a turn ended, as the workflow reports it; a failure without a trace keeps the one saved by keepTrace. */
export type TurnOutcome =
  | { status: 'succeeded'; reply: string; subAgents: SubAgentOutcome[]; trace?: TurnTrace }
  | { status: 'failed' | 'timed_out'; error: string; subAgents?: SubAgentOutcome[]; trace?: TurnTrace };

/** What a finish did, and whether the thread's queue may move now (its caller decides whether to start it). */
export interface Finished {
  result: 'finished' | 'stale';
  queueWaiting: boolean;
}

/**
 * Finishes a running turn with its one reply (or its failure) and releases everything. With a guard
 * (a sub-agent's turn), the reply is recorded only while the parent turn still holds its lease;
 * otherwise the turn is failed, and its lease and slot still released.
 */
export async function finishTurn(
  ctx: TurnContext,
  ref: TurnRef,
  requested: TurnOutcome,
  requestedGuard?: LeaseGuard,
): Promise<Finished> {
  // A sub-agent whose parent lost its lease is finished as failed, without the parent's guard.
  let outcome = requested;
  let guard = requestedGuard;
  return retryOptimistic<Finished>(
    async () => {
      const [thread, turn] = await Promise.all([
        ctx.store.get(ref.tenant, ref.sessionKey),
        ctx.store.getTurn(ref.tenant, ref.sessionKey, ref.turnId),
      ]);
      if (!thread || !turn || FINAL_STATUSES.includes(turn.status)) {
        // Finished before (a retry, or a crash after the finish): make sure its queue still moves.
        return { result: 'stale', queueWaiting: Boolean(thread?.queuedTurns && !holdsLiveLease(thread, ctx.now())) };
      }
      // Fencing: only the holder of the lease this turn was started under may finish it.
      if (thread.lease?.turnId !== ref.turnId || thread.lease.fencingToken !== ref.fencingToken)
        return { result: 'stale', queueWaiting: false };
      const agent = ctx.config.agents[thread.agent];
      const change = finishTransition(thread, turn, outcome, guard, agent, ctx.now());
      // The version condition closes the race with a concurrent finish, takeover or recovery between our
      // read and this write; `expected: running` keeps a final turn final; the guard fences a sub-agent.
      const result = await ctx.store.transition(thread, change.after, change.audit, change.counters, change.writes);
      if (result.ok) {
        await trimMemory(ctx.store, change.after, agent?.memory, change.trim?.seqs ?? [], ctx.now);
        return { result: 'finished', queueWaiting: change.after.queuedTurns > 0 };
      }
      if (result.reason === 'turn_state') return { result: 'stale', queueWaiting: false };
      if (result.reason === 'lease_lost') {
        outcome = {
          status: 'failed',
          error: 'the parent turn lost its lease before this sub-agent finished',
          ...(outcome.trace ? { trace: outcome.trace } : {}),
        };
        guard = undefined;
      }
      return undefined;
    },
    () => {
      throw new ThreadError('conflict', `turn ${ref.turnId} could not be finished; retry`, { turnId: ref.turnId });
    },
  );
}

/**
 * The transition that finishes `turn` of `thread` (as read) with `outcome`: the reply message, the
 * final turn, its audit entry, the lease and slot released, and the claim of the messages to trim.
 */
export function finishTransition(
  thread: Thread,
  turn: Turn,
  outcome: TurnOutcome,
  guard: LeaseGuard | undefined,
  agent: AgentConfig | undefined,
  now: Date,
): { after: Thread; audit: AuditEntry; counters: CounterDelta[]; writes: ThreadWrite[]; trim?: TrimRange } {
  const at = now.toISOString();
  const writes: ThreadWrite[] = [];
  let messageSeq = thread.messageSeq;
  const finished: Turn = {
    ...turn,
    status: outcome.status,
    endedAt: at,
    ...(outcome.subAgents ? { subAgents: withinTraceBudget(outcome.subAgents) } : {}),
    ...(outcome.trace ? { trace: outcome.trace } : {}),
  };
  if (outcome.status === 'succeeded') {
    messageSeq += 1;
    finished.reply = outcome.reply;
    finished.replySeq = messageSeq;
    writes.push({
      kind: 'putMessage',
      message: {
        seq: messageSeq,
        role: 'assistant',
        content: outcome.reply,
        turnId: turn.turnId,
        agent: thread.agent,
        createdAt: at,
        ...messageTtl(agent, now),
      },
    });
  } else {
    finished.error = outcome.error;
  }
  writes.push({ kind: 'updateTurn', turn: finished, expected: 'running' });
  const audit = nextAuditEntry(thread, {
    type: 'agent_exec',
    at,
    tenant: thread.tenant,
    actor: `turn:${turn.turnId}`,
    data: {
      turnId: turn.turnId,
      status: outcome.status,
      ...(outcome.status === 'succeeded' ? {} : { error: outcome.error }),
      subAgents: (outcome.subAgents ?? []).map((s) => ({
        agent: s.agent,
        sessionKey: s.sessionKey,
        status: s.status,
      })),
    },
  });
  const trim = trimRange(thread, agent?.memory, messageSeq);
  const after: Thread = {
    ...thread,
    version: thread.version + 1,
    lease: undefined,
    messageSeq,
    lastActiveAt: at,
    auditSeq: audit.seq,
    auditHash: audit.hash,
    ...(trim ? { trimmedThroughSeq: trim.through } : {}),
  };
  const counters: CounterDelta[] = [
    { agent: thread.agent, runningTurns: -1, ...(outcome.status === 'timed_out' ? { timedOutTurns: 1 } : {}) },
  ];
  if (guard) writes.push({ kind: 'assertLease', ...guard });
  return { after, audit, counters, writes, ...(trim ? { trim } : {}) };
}
