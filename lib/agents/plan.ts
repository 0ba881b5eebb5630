import type { AgentConfig } from '../config/schema.js';
import { nextAuditEntry, withAuditHead } from '../threads/audit.js';
import type { Thread } from '../threads/model.js';
import { retryOptimistic } from '../threads/optimistic.js';
import type { ThreadStore } from '../threads/ports.js';
import { TurnError } from '../turns/errors.js';
import type { TurnRef } from '../workflows/turn-workflow.js';

/** One task of a fan-out plan, as the workflow's Map state passes it to a sub-agent. */
export interface PlanItem {
  agent: string;
  task: string;
  /** The sub-agent's child thread. */
  sessionKey: string;
  timeoutSeconds: number;
}

/**
 * Why the thread's agent may not run this plan, or undefined if it may: the spawn depth, the
 * `subAgents` allow list, `maxChildren`, one child thread per sub-agent, and who may merge.
 */
export function planRefusal(
  thread: Pick<Thread, 'agent' | 'lineage'>,
  agent: Pick<AgentConfig, 'subAgents' | 'maxChildren' | 'maxSpawnDepth'>,
  plan: { agent: string }[],
  coalesceWith: string | undefined,
): string | undefined {
  const depth = (thread.lineage?.depth ?? 0) + 1;
  if (depth > agent.maxSpawnDepth)
    return `spawn depth ${depth} exceeds maxSpawnDepth ${agent.maxSpawnDepth} of agent "${thread.agent}"`;
  const notAllowed = plan.filter((p) => !agent.subAgents.includes(p.agent)).map((p) => p.agent);
  if (notAllowed.length > 0)
    return `agent "${thread.agent}" may not hand work to ${notAllowed.map((a) => `"${a}"`).join(', ')} (subAgents: ${agent.subAgents.join(', ') || 'none'})`;
  if (plan.length > agent.maxChildren)
    return `the plan has ${plan.length} sub-agents; maxChildren is ${agent.maxChildren}`;
  if (new Set(plan.map((p) => p.agent)).size !== plan.length)
    return 'the plan names a sub-agent twice (each works in one child thread)';
  if (coalesceWith && coalesceWith !== thread.agent && !agent.subAgents.includes(coalesceWith))
    return `agent "${coalesceWith}" may not merge for "${thread.agent}"`;
  return undefined;
}

/**
 * Appends the `plan_refused` audit entry to the thread, retrying on a version conflict with the
 * thread `reload` reads back (still under the turn's lease); throws if it never lands.
 */
export async function auditPlanRefusal(
  store: Pick<ThreadStore, 'transition'>,
  now: () => Date,
  thread: Thread,
  ref: TurnRef,
  reason: string,
  agents: string[],
  reload: () => Promise<Thread>,
): Promise<void> {
  let current = thread;
  await retryOptimistic<true>(
    async (attempt) => {
      if (attempt > 0) current = await reload();
      const entry = nextAuditEntry(current, {
        type: 'plan_refused',
        at: now().toISOString(),
        tenant: current.tenant,
        actor: `turn:${ref.turnId}`,
        data: { turnId: ref.turnId, reason, agents },
      });
      // The version condition closes the race with another writer of the thread (and its audit head).
      const after = { ...withAuditHead(current, entry), version: current.version + 1 };
      return (await store.transition(current, after, entry, [])).ok || undefined;
    },
    () => {
      // Never answer "refused" without the audit entry that says so.
      throw new TurnError('stale_turn', `the plan refusal of turn ${ref.turnId} could not be audited`, {
        turnId: ref.turnId,
      });
    },
  );
}
