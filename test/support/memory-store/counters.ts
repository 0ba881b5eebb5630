import { keys } from '../../../lib/adapters/dynamodb/keys.js';
import type { AgentCounters, CounterDelta, ThreadCounters } from '../../../lib/threads/ports.js';
import type { MemoryTable } from './table.js';
import type { Operation } from './transaction.js';

type Field = 'activeThreads' | 'runningTurns' | 'timedOutTurns';

/** The key of an agent's counter item, or with undefined, the deployment's. */
function counterKey(agent: string | undefined) {
  return agent === undefined ? keys.deploymentCounters() : keys.agentCounters(agent);
}

/** The counter items' conditional changes, as CounterItems builds them for DynamoDB. */
export class MemoryCounterItems {
  constructor(private readonly table: MemoryTable) {}

  /** +1 on `field`, only while it is absent or below `max` (and +1 on `changes`). */
  bounded(agent: string | undefined, field: 'activeThreads' | 'runningTurns', max: number): Operation {
    const { pk, sk } = counterKey(agent);
    return {
      pk,
      sk,
      check: () => {
        const value = this.table.get(pk, sk)?.[field];
        return value === undefined || (value as number) < max;
      },
      apply: () => this.change(pk, sk, [[field, 1]]),
    };
  }

  /** The deltas' items: one per agent with a change, plus the deployment's; a decrement needs as much to take back. */
  apply(deltas: CounterDelta[]): Operation[] {
    const operations: Operation[] = [];
    let deployment = 0;
    for (const delta of deltas) {
      const changes = (
        [
          ['activeThreads', delta.activeThreads ?? 0],
          ['runningTurns', delta.runningTurns ?? 0],
          ['timedOutTurns', delta.timedOutTurns ?? 0],
        ] as [Field, number][]
      ).filter(([, n]) => n !== 0);
      if (changes.length === 0) continue;
      deployment += delta.activeThreads ?? 0;
      operations.push(this.update(counterKey(delta.agent), changes));
    }
    if (deployment !== 0) operations.push(this.update(counterKey(undefined), [['activeThreads', deployment]]));
    return operations;
  }

  private update({ pk, sk }: { pk: string; sk: string }, changes: [Field, number][]): Operation {
    return {
      pk,
      sk,
      // A comparison with an absent attribute is false in DynamoDB: a release of nothing is refused.
      check: () => {
        const item = this.table.get(pk, sk);
        return changes.every(([field, delta]) => delta >= 0 || ((item?.[field] as number | undefined) ?? -1) >= -delta);
      },
      apply: () => this.change(pk, sk, changes),
    };
  }

  private change(pk: string, sk: string, changes: [Field, number][]): void {
    const item = this.table.get(pk, sk) ?? {};
    for (const [field, delta] of changes) item[field] = ((item[field] as number | undefined) ?? 0) + delta;
    item.changes = ((item.changes as number | undefined) ?? 0) + 1;
    this.table.put(pk, sk, item);
  }
}

/** ThreadCounters in memory. */
export class MemoryThreadCounters implements ThreadCounters {
  constructor(private readonly table: MemoryTable) {}

  async counterVersions(agents: string[]): Promise<Map<string, number>> {
    const versions = new Map<string, number>();
    for (const agent of [...agents, undefined]) {
      const { pk, sk } = counterKey(agent);
      const item = this.table.get(pk, sk);
      if (item) versions.set(agent ?? '', Number(item.changes ?? 0));
    }
    return versions;
  }

  async repairCounters(
    agent: string | undefined,
    values: { activeThreads: number; runningTurns?: number },
    observedChanges: number,
  ): Promise<boolean> {
    const { pk, sk } = counterKey(agent);
    const item = this.table.get(pk, sk) ?? {};
    const changes = item.changes as number | undefined;
    // Closes the race with every counter change during the recount (ABA included): `changes` only grows.
    if (observedChanges === 0 ? changes !== undefined && changes !== 0 : changes !== observedChanges) return false;
    item.activeThreads = values.activeThreads;
    if (values.runningTurns !== undefined) item.runningTurns = values.runningTurns;
    item.changes = (changes ?? 0) + 1;
    this.table.put(pk, sk, item);
    return true;
  }

  async counters(agents: string[]): Promise<{ agents: Record<string, AgentCounters>; activeThreads: number }> {
    const result: Record<string, AgentCounters> = {};
    for (const agent of agents) {
      const { pk, sk } = counterKey(agent);
      const item = this.table.get(pk, sk);
      result[agent] = {
        activeThreads: Number(item?.activeThreads ?? 0),
        runningTurns: Number(item?.runningTurns ?? 0),
        timedOutTurns: Number(item?.timedOutTurns ?? 0),
      };
    }
    const { pk, sk } = counterKey(undefined);
    return { agents: result, activeThreads: Number(this.table.get(pk, sk)?.activeThreads ?? 0) };
  }
}
