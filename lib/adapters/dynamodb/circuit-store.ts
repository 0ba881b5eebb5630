import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import type { CircuitRecord, CircuitStore } from '../../models/circuit-breaker.js';
import { keys } from './keys.js';

/** Attribute names used by every expression (`state` is a reserved word; the others are aliased alike). */
const NAMES = {
  '#state': 'state',
  '#failures': 'failures',
  '#openUntil': 'openUntil',
  '#probeUntil': 'probeUntil',
  '#opens': 'opens',
  '#version': 'version',
  '#updatedAt': 'updatedAt',
} as const;

/**
 * Provider circuits as items `PROVIDER#<provider>` / `CIRCUIT` (kind `circuit`). Times are epoch
 * milliseconds (numbers, so conditions compare them as numbers). Every write bumps `version` and
 * returns the item after it, so the breaker's cache never needs a read after its own write.
 */
export class DynamoCircuitStore implements CircuitStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(provider: string): Promise<CircuitRecord | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.providerCircuit(provider), ConsistentRead: true }),
    );
    return result.Item ? toRecord(provider, result.Item) : undefined;
  }

  async addFailure(provider: string, failure: { at: number; error?: string }): Promise<CircuitRecord> {
    // Unconditional and atomic (ADD): concurrent failures from any number of instances all count,
    // with no read before and no retry. The first failure creates the item, closed.
    const record = await this.update(provider, {
      UpdateExpression:
        'SET #kind = :kind, #provider = :provider, #state = if_not_exists(#state, :closed), lastFailureAt = :at, #updatedAt = :at' +
        (failure.error === undefined ? '' : ', lastError = :error') +
        ' ADD #failures :one, #version :one',
      ExpressionAttributeNames: {
        '#kind': 'kind',
        '#provider': 'provider',
        '#state': 'state',
        '#failures': 'failures',
        '#version': 'version',
        '#updatedAt': 'updatedAt',
      },
      ExpressionAttributeValues: {
        ':kind': 'circuit',
        ':provider': provider,
        ':closed': 'closed',
        ':at': failure.at,
        ':one': 1,
        ...(failure.error === undefined ? {} : { ':error': failure.error }),
      },
    });
    return record!;
  }

  async open(
    provider: string,
    change: { at: number; until: number; minFailures: number },
  ): Promise<CircuitRecord | undefined> {
    return this.update(provider, {
      UpdateExpression:
        'SET #state = :open, #openUntil = :until, openedAt = :at, #updatedAt = :at ADD #opens :one, #version :one REMOVE #probeUntil',
      // Closes the race of the instances whose failures all reached the threshold at once: the first
      // one opens the circuit, the others find it open, so the cool-down starts once and is not
      // pushed later by each of them. `failures >= :min` closes the race with a success that reset
      // the count after this failure was counted (a circuit is not opened on failures a success
      // has since wiped out). For a Retry-After, :min is 0: the provider asked for the pause.
      ConditionExpression: '#state = :closed AND #failures >= :min',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: {
        ':open': 'open',
        ':closed': 'closed',
        ':until': change.until,
        ':at': change.at,
        ':min': change.minFailures,
        ':one': 1,
      },
    });
  }

  async reopen(provider: string, change: { at: number; until: number }): Promise<CircuitRecord | undefined> {
    return this.update(provider, {
      UpdateExpression:
        'SET #openUntil = :until, openedAt = :at, #updatedAt = :at ADD #opens :one, #version :one REMOVE #probeUntil',
      // Only once the cool-down is over (a failed probe, or any failure after the cool-down). Closes
      // two races: a failure and the probe's success at the same moment (whichever lands first
      // wins; the other finds the precondition gone), and many failures after the cool-down (the
      // first starts a new cool-down; the others find openUntil in the future and cannot extend it).
      ConditionExpression: '#state = :open AND #openUntil <= :at',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: { ':open': 'open', ':until': change.until, ':at': change.at, ':one': 1 },
    });
  }

  async extend(provider: string, change: { until: number }): Promise<CircuitRecord | undefined> {
    return this.update(provider, {
      UpdateExpression: 'SET #openUntil = :until ADD #version :one',
      // openUntil = max(openUntil, :until), atomically: two Retry-Afters arriving together leave the
      // later end, and the end never moves earlier (nor does a closed circuit get reopened here).
      ConditionExpression: '#state = :open AND #openUntil < :until',
      ExpressionAttributeNames: { '#state': 'state', '#openUntil': 'openUntil', '#version': 'version' },
      ExpressionAttributeValues: { ':open': 'open', ':until': change.until, ':one': 1 },
    });
  }

  async takeProbe(provider: string, lease: { at: number; until: number }): Promise<CircuitRecord | undefined> {
    return this.update(provider, {
      UpdateExpression: 'SET #probeUntil = :until, #updatedAt = :at ADD probes :one, #version :one',
      // Closes the race of the callers (on any number of instances) that all see the cool-down
      // over: the first write sets an unexpired lease, so every other one fails this condition and
      // skips the provider. A lease that expired (its prober crashed or never reported) satisfies
      // it again, so a crashed prober cannot keep the circuit open forever.
      ConditionExpression:
        '#state = :open AND #openUntil <= :at AND (attribute_not_exists(#probeUntil) OR #probeUntil <= :at)',
      ExpressionAttributeNames: {
        '#state': 'state',
        '#openUntil': 'openUntil',
        '#probeUntil': 'probeUntil',
        '#version': 'version',
        '#updatedAt': 'updatedAt',
      },
      ExpressionAttributeValues: { ':open': 'open', ':until': lease.until, ':at': lease.at, ':one': 1 },
    });
  }

  async close(provider: string, change: { at: number }): Promise<CircuitRecord | undefined> {
    return this.update(provider, {
      UpdateExpression:
        'SET #state = :closed, #failures = :zero, closedAt = :at, #updatedAt = :at ADD #version :one REMOVE #openUntil, #probeUntil',
      // Only past the cool-down: a success of a call started before the circuit opened (or before
      // a failed probe reopened it) cannot end a cool-down early, so a Retry-After is honoured. The
      // race with a concurrent failed probe is closed as in `reopen`: one of the two wins.
      ConditionExpression: '#state = :open AND #openUntil <= :at',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: { ':open': 'open', ':closed': 'closed', ':zero': 0, ':at': change.at, ':one': 1 },
    });
  }

  async resetFailures(provider: string): Promise<CircuitRecord | undefined> {
    return this.update(provider, {
      UpdateExpression: 'SET #failures = :zero ADD #version :one',
      // Closes the race with the opening write: a success decided on a closed read cannot wipe the
      // count of a circuit that opened meanwhile; a second reset of the same count writes nothing.
      ConditionExpression: '#state = :closed AND #failures > :zero',
      ExpressionAttributeNames: { '#state': 'state', '#failures': 'failures', '#version': 'version' },
      ExpressionAttributeValues: { ':closed': 'closed', ':zero': 0, ':one': 1 },
    });
  }

  /** One UpdateItem returning the item after it, or undefined when its condition failed. */
  private async update(
    provider: string,
    expression: Pick<
      UpdateCommandInput,
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    >,
  ): Promise<CircuitRecord | undefined> {
    const names = expression.ExpressionAttributeNames ?? {};
    const used = `${expression.UpdateExpression} ${expression.ConditionExpression ?? ''}`;
    try {
      const result = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.providerCircuit(provider),
          ...expression,
          // DynamoDB refuses names an expression does not use.
          ExpressionAttributeNames: Object.fromEntries(
            Object.entries(names).filter(([name]) => new RegExp(`${name}(?![A-Za-z0-9_])`).test(used)),
          ),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRecord(provider, result.Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

function toRecord(provider: string, item: Record<string, unknown>): CircuitRecord {
  const record: CircuitRecord = {
    provider,
    state: item.state === 'open' ? 'open' : 'closed',
    failures: Number(item.failures ?? 0),
    opens: Number(item.opens ?? 0),
    version: Number(item.version ?? 0),
  };
  if (item.openUntil !== undefined) record.openUntil = Number(item.openUntil);
  if (item.probeUntil !== undefined) record.probeUntil = Number(item.probeUntil);
  if (item.lastFailureAt !== undefined) record.lastFailureAt = Number(item.lastFailureAt);
  if (item.lastError !== undefined) record.lastError = String(item.lastError);
  return record;
}
