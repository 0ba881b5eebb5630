import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AgentCounters, CounterDelta } from '../../threads/ports.js';
import { keys } from './keys.js';

/**
 * The agent and deployment counters. They live in their own items and are only changed by
 * conditional updates inside the transaction that changes the thread, so a counter can never
 * pass its maximum nor drift from the threads. Kept in one module so a hot agent's counter can
 * later be sharded without touching the callers.
 */
export class CounterItems {
  constructor(private readonly tableName: string) {}

  /** Increment the agent's and the deployment's live-thread counters, only while below their maxima. */
  reserveThread(agent: string, maxActiveThreads: number, maxThreads: number) {
    // Closes the race of concurrent spawns: each increment is checked against the value it changes.
    return [
      this.bounded(keys.agentCounters(agent), 'activeThreads', maxActiveThreads),
      this.bounded(keys.deploymentCounters(), 'activeThreads', maxThreads),
    ];
  }

  /** Take one of the agent's running-turn slots, only while fewer than `max` are taken. */
  reserveTurn(agent: string, max: number) {
    // Closes the race of concurrent turn starts on one agent: maxConcurrentTurns is never passed.
    return this.bounded(keys.agentCounters(agent), 'runningTurns', max);
  }

  /** Apply deltas (decrements never go below zero: the condition refuses a second release). */
  apply(deltas: CounterDelta[]) {
    const items = [];
    let deployment = 0;
    for (const delta of deltas) {
      const changes = Object.entries({
        activeThreads: delta.activeThreads ?? 0,
        runningTurns: delta.runningTurns ?? 0,
        timedOutTurns: delta.timedOutTurns ?? 0,
      }).filter(([, n]) => n !== 0);
      if (changes.length === 0) continue;
      deployment += delta.activeThreads ?? 0;
      items.push(this.update(keys.agentCounters(delta.agent), changes));
    }
    if (deployment !== 0) items.push(this.update(keys.deploymentCounters(), [['activeThreads', deployment]]));
    return items;
  }

  /** +1 on `field`, only while it is below `max`. */
  private bounded(key: { pk: string; sk: string }, field: 'activeThreads' | 'runningTurns', max: number) {
    return {
      Update: {
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET #f = if_not_exists(#f, :zero) + :one ADD changes :one',
        ConditionExpression: 'attribute_not_exists(#f) OR #f < :max',
        ExpressionAttributeNames: { '#f': field },
        ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':max': max },
      },
    };
  }

  private update(key: { pk: string; sk: string }, changes: [string, number][]) {
    const names: Record<string, string> = {};
    const values: Record<string, number> = { ':zero': 0, ':one': 1 };
    const sets: string[] = [];
    const conditions: string[] = [];
    changes.forEach(([field, delta], i) => {
      names[`#f${i}`] = field;
      values[`:d${i}`] = delta;
      sets.push(`#f${i} = if_not_exists(#f${i}, :zero) + :d${i}`);
      if (delta < 0) {
        values[`:min${i}`] = -delta;
        // A release can only take back what was taken: a counter never goes negative.
        conditions.push(`#f${i} >= :min${i}`);
      }
    });
    return {
      Update: {
        TableName: this.tableName,
        Key: key,
        // `changes` counts every change, so a repair can tell that nothing moved while it recounted.
        UpdateExpression: `SET ${sets.join(', ')} ADD changes :one`,
        ...(conditions.length > 0 ? { ConditionExpression: conditions.join(' AND ') } : {}),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    };
  }
}

/** The `changes` of each counter item (agents by name, the deployment under ""), for a conditional repair. */
export async function readCounterVersions(
  client: DynamoDBDocumentClient,
  tableName: string,
  agents: string[],
): Promise<Map<string, number>> {
  const versions = new Map<string, number>();
  const wanted = [...agents.map((agent) => keys.agentCounters(agent)), keys.deploymentCounters()];
  let pending: Record<string, unknown>[] = wanted;
  while (pending.length > 0) {
    const result = await client.send(
      new BatchGetCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }),
    );
    for (const item of result.Responses?.[tableName] ?? [])
      versions.set(
        String(item.pk) === keys.deploymentCounters().pk ? '' : String(item.pk).slice('AGENT#'.length),
        Number(item.changes ?? 0),
      );
    pending = result.UnprocessedKeys?.[tableName]?.Keys ?? [];
  }
  return versions;
}

/**
 * Sets counters to recounted values, only if no change happened since `observedChanges` was read
 * (closes the race with spawns, terminates and turns during the recount, ABA included).
 */
export async function repairCounter(
  client: DynamoDBDocumentClient,
  tableName: string,
  agent: string | undefined,
  values: { activeThreads: number; runningTurns?: number },
  observedChanges: number,
): Promise<boolean> {
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: agent === undefined ? keys.deploymentCounters() : keys.agentCounters(agent),
        UpdateExpression: `SET activeThreads = :active${values.runningTurns === undefined ? '' : ', runningTurns = :running'} ADD changes :one`,
        ConditionExpression:
          observedChanges === 0 ? 'attribute_not_exists(changes) OR changes = :zero' : 'changes = :observed',
        ExpressionAttributeValues: {
          ':active': values.activeThreads,
          ':one': 1,
          ...(values.runningTurns === undefined ? {} : { ':running': values.runningTurns }),
          ...(observedChanges === 0 ? { ':zero': 0 } : { ':observed': observedChanges }),
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** Reads the counters of the named agents and the deployment. */
export async function readCounters(
  client: DynamoDBDocumentClient,
  tableName: string,
  agents: string[],
): Promise<{ agents: Record<string, AgentCounters>; activeThreads: number }> {
  const wanted = [...agents.map((agent) => keys.agentCounters(agent)), keys.deploymentCounters()];
  const found = new Map<string, Record<string, unknown>>();
  let pending: Record<string, unknown>[] = wanted;
  // BatchGet may return UnprocessedKeys under load; loop until every key is read.
  while (pending.length > 0) {
    const result = await client.send(
      new BatchGetCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }),
    );
    for (const item of result.Responses?.[tableName] ?? []) found.set(String(item.pk), item);
    pending = result.UnprocessedKeys?.[tableName]?.Keys ?? [];
  }
  const counters: Record<string, AgentCounters> = {};
  for (const agent of agents) {
    const item = found.get(keys.agentCounters(agent).pk);
    counters[agent] = {
      activeThreads: Number(item?.activeThreads ?? 0),
      runningTurns: Number(item?.runningTurns ?? 0),
      timedOutTurns: Number(item?.timedOutTurns ?? 0),
    };
  }
  return { agents: counters, activeThreads: Number(found.get(keys.deploymentCounters().pk)?.activeThreads ?? 0) };
}
