import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '../../audit/chain.js';
import { TABLE } from '../../table/definition.js';
import { LimitReachedError, ThreadError } from '../../threads/errors.js';
import type { Thread } from '../../threads/model.js';
import type {
  AgentCounters,
  CounterDelta,
  SpawnLimits,
  ThreadPage,
  ThreadPosition,
  ThreadStore,
  ThreadWrite,
  TransitionOutcome,
  TransitionRefusal,
} from '../../threads/ports.js';
import type { Message, Turn } from '../../turns/model.js';
import { auditPut, readChain, stripKeys } from './audit-items.js';
import { CounterItems, readCounters, readCounterVersions, repairCounter } from './counters.js';
import { keys } from './keys.js';
import { type TransactItems, transactWrite } from './transact.js';

/** Seconds a client should wait before retrying a spawn refused by a full limit. */
export const LIMIT_RETRY_AFTER_SECONDS = 30;

/** ThreadStore on the single DynamoDB table. */
export class DynamoThreadStore implements ThreadStore {
  private readonly counterItems: CounterItems;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.counterItems = new CounterItems(tableName);
  }

  async create(thread: Thread, audit: AuditEntry, limits: SpawnLimits): Promise<void> {
    const [agentCounter, deploymentCounter] = this.counterItems.reserveThread(
      thread.agent,
      limits.maxActiveThreads,
      limits.maxThreads,
    );
    const outcome = await transactWrite(this.client, [
      agentCounter!,
      deploymentCounter!,
      // Closes the race of two spawns of the same key: only the first insert succeeds.
      {
        Put: {
          TableName: this.tableName,
          Item: this.threadItem(thread),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      this.auditPut(audit, thread),
    ]);
    if (outcome.ok) return;
    const failed = new Set(outcome.failedConditions);
    if (failed.has(2))
      throw new ThreadError('thread_exists', `a thread with sessionKey "${thread.sessionKey}" already exists`, {
        sessionKey: thread.sessionKey,
      });
    if (failed.has(0))
      throw new LimitReachedError('maxActiveThreads', limits.maxActiveThreads, LIMIT_RETRY_AFTER_SECONDS, thread.agent);
    if (failed.has(1)) throw new LimitReachedError('maxThreads', limits.maxThreads, LIMIT_RETRY_AFTER_SECONDS);
    throw new Error(`spawn transaction refused by condition(s) ${[...failed].join(', ')}`);
  }

  async get(tenant: string, sessionKey: string): Promise<Thread | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.thread(tenant, sessionKey), ConsistentRead: true }),
    );
    return result.Item ? toThread(result.Item) : undefined;
  }

  async transition(
    before: Thread,
    after: Thread,
    audit: AuditEntry | undefined,
    counters: CounterDelta[],
    writes: ThreadWrite[] = [],
  ): Promise<TransitionOutcome> {
    const pk = keys.threadPk(after.tenant, after.sessionKey);
    // Each item's refusal reason, by position in the transaction.
    const refusals: (TransitionRefusal | 'invariant')[] = [];
    const items: TransactItems = [];
    const add = (item: TransactItems[number], refusal: TransitionRefusal | 'invariant') => {
      items.push(item);
      refusals.push(refusal);
    };
    add(
      {
        Put: {
          TableName: this.tableName,
          Item: this.threadItem(after),
          // Closes lost updates between concurrent writers of one thread (submit, complete, restart,
          // terminate): the write only lands on the version it was computed from, of the same
          // incarnation (versions restart at 1 after auto-destroy and respawn), and a terminated
          // thread never changes again (so a second terminate cannot give its slot back twice).
          ConditionExpression: 'version = :version AND threadId = :threadId AND #status <> :terminated',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':version': before.version,
            ':threadId': before.threadId,
            ':terminated': 'terminated',
          },
        },
      },
      'version',
    );
    if (audit) add(this.auditPut(audit, after), 'invariant');
    for (const item of this.counterItems.apply(counters)) add(item, 'invariant');
    for (const write of writes) {
      switch (write.kind) {
        case 'putMessage':
          add(
            {
              Put: {
                TableName: this.tableName,
                Item: { pk, sk: keys.message(write.message.seq), kind: 'message', ...write.message },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            'invariant',
          );
          break;
        case 'putTurn':
          // The idempotency guard: a repeated submission computes the same turnId and is refused here.
          add(
            {
              Put: {
                TableName: this.tableName,
                Item: { pk, sk: keys.turn(write.turn.turnId), kind: 'turn', ...write.turn },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            'turn_exists',
          );
          break;
        case 'updateTurn':
          // A turn moves forward once: two finishers (a late execution and a takeover) cannot both win.
          add(
            {
              Put: {
                TableName: this.tableName,
                Item: { pk, sk: keys.turn(write.turn.turnId), kind: 'turn', ...write.turn },
                ConditionExpression: '#status = :expected',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':expected': write.expected },
              },
            },
            'turn_state',
          );
          break;
        case 'failTurn':
          add(
            {
              Update: {
                TableName: this.tableName,
                Key: { pk, sk: keys.turn(write.turnId) },
                UpdateExpression: 'SET #status = :failed, #error = :error, endedAt = :at',
                // Only a turn still running can be failed this way; a finished turn keeps its outcome.
                ConditionExpression: '#status = :running',
                ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
                ExpressionAttributeValues: {
                  ':failed': 'failed',
                  ':running': 'running',
                  ':error': write.error,
                  ':at': write.at,
                },
              },
            },
            'turn_state',
          );
          break;
        case 'enqueue':
          add(
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  pk,
                  sk: keys.queue(write.queueSeq),
                  kind: 'queue',
                  queueSeq: write.queueSeq,
                  turnId: write.turnId,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            'invariant',
          );
          break;
        case 'dequeue':
          add(
            {
              Delete: {
                TableName: this.tableName,
                Key: { pk, sk: keys.queue(write.queueSeq) },
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
            'invariant',
          );
          break;
        case 'assertLease':
          // A sub-agent's writes land only while its parent turn still holds the parent's lease.
          add(
            {
              ConditionCheck: {
                TableName: this.tableName,
                Key: keys.thread(write.tenant, write.sessionKey),
                ConditionExpression: 'lease.turnId = :turnId AND lease.fencingToken = :fencingToken',
                ExpressionAttributeValues: { ':turnId': write.turnId, ':fencingToken': write.fencingToken },
              },
            },
            'lease_lost',
          );
          break;
        case 'reserveTurnSlot':
          add(this.counterItems.reserveTurn(write.agent, write.max), 'turn_limit');
          break;
      }
    }
    const outcome = await transactWrite(this.client, items);
    if (outcome.ok) return { ok: true };
    const reasons = outcome.failedConditions.map((index) => refusals[index]);
    // The version check first: on a lost race every other condition may be stale too.
    for (const reason of ['version', 'lease_lost', 'turn_exists', 'turn_state', 'turn_limit'] as const) {
      if (reasons.includes(reason)) return { ok: false, reason };
    }
    throw new Error(
      `thread transition refused by condition(s) ${outcome.failedConditions.join(', ')} (counter, audit, message or queue invariant)`,
    );
  }

  async getTurn(tenant: string, sessionKey: string, turnId: string): Promise<Turn | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.threadPk(tenant, sessionKey), sk: keys.turn(turnId) },
        ConsistentRead: true,
      }),
    );
    return result.Item ? (stripKeys(result.Item) as unknown as Turn) : undefined;
  }

  async queueHead(tenant: string, sessionKey: string): Promise<{ queueSeq: number; turnId: string } | undefined> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.threadPk(tenant, sessionKey), ':prefix': 'QUEUE#' },
        ConsistentRead: true,
        Limit: 1,
      }),
    );
    const item = result.Items?.[0];
    return item ? { queueSeq: Number(item.queueSeq), turnId: String(item.turnId) } : undefined;
  }

  async messagesAfter(tenant: string, sessionKey: string, afterSeq: number, limit: number): Promise<Message[]> {
    return this.queryMessages(tenant, sessionKey, { from: keys.message(afterSeq + 1), forward: true, limit });
  }

  async latestMessages(tenant: string, sessionKey: string, floorSeq: number, limit: number): Promise<Message[]> {
    return this.queryMessages(tenant, sessionKey, { from: keys.message(floorSeq + 1), forward: false, limit });
  }

  private async queryMessages(
    tenant: string,
    sessionKey: string,
    options: { from: string; forward: boolean; limit: number },
  ): Promise<Message[]> {
    const messages: Message[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': keys.threadPk(tenant, sessionKey),
            ':from': options.from,
            ':to': 'MSG#9999999999',
          },
          ScanIndexForward: options.forward,
          ConsistentRead: true,
          Limit: options.limit - messages.length,
          ExclusiveStartKey: start,
        }),
      );
      messages.push(...(result.Items ?? []).map((item) => stripKeys(item) as unknown as Message));
      start = result.LastEvaluatedKey;
    } while (start && messages.length < options.limit);
    return messages;
  }

  async destroy(tenant: string, sessionKey: string, threadId: string): Promise<void> {
    const pk = keys.threadPk(tenant, sessionKey);
    // Everything but the thread item first: while it exists (terminated), a respawn of the key gets
    // thread_exists, and a repeated DELETE finds the thread and finishes an interrupted deletion.
    await this.deleteWhere(pk, undefined, (sk) => sk !== 'META' && !sk.startsWith('AUDIT#'));
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.thread(tenant, sessionKey),
          // Only the terminated incarnation this call was destroying, never a newer one.
          ConditionExpression: '#status = :terminated AND threadId = :threadId',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':terminated': 'terminated', ':threadId': threadId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async failQueuedTurns(tenant: string, sessionKey: string, error: string, at: string): Promise<number> {
    const pk = keys.threadPk(tenant, sessionKey);
    let failed = 0;
    for (let head = await this.queueHead(tenant, sessionKey); head; head = await this.queueHead(tenant, sessionKey)) {
      const outcome = await transactWrite(this.client, [
        {
          Update: {
            TableName: this.tableName,
            Key: { pk, sk: keys.turn(head.turnId) },
            UpdateExpression: 'SET #status = :failed, #error = :error, endedAt = :at',
            ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
            ExpressionAttributeValues: { ':failed': 'failed', ':error': error, ':at': at },
          },
        },
        // Another caller may be emptying the same queue: each entry is removed once.
        {
          Delete: {
            TableName: this.tableName,
            Key: { pk, sk: keys.queue(head.queueSeq) },
            ConditionExpression: 'attribute_exists(pk)',
          },
        },
      ]);
      if (outcome.ok) failed += 1;
    }
    return failed;
  }

  async deleteMessages(tenant: string, sessionKey: string, seqs: number[]): Promise<void> {
    const pk = keys.threadPk(tenant, sessionKey);
    for (let i = 0; i < seqs.length; i += 25)
      await this.batchDelete(seqs.slice(i, i + 25).map((seq) => ({ pk, sk: keys.message(seq) })));
  }

  async trimHistory(
    tenant: string,
    sessionKey: string,
    options: { keepFromSeq: number; olderThan: string; limit: number },
  ): Promise<number> {
    // Messages are in time order, so both rules cut a prefix: stop at the first message that stays.
    const oldest = await this.messagesAfter(tenant, sessionKey, 0, options.limit);
    const doomed = [];
    for (const message of oldest) {
      if (message.seq >= options.keepFromSeq && message.createdAt >= options.olderThan) break;
      doomed.push({ pk: keys.threadPk(tenant, sessionKey), sk: keys.message(message.seq) });
    }
    for (let i = 0; i < doomed.length; i += 25) await this.batchDelete(doomed.slice(i, i + 25));
    return doomed.length;
  }

  async trimMessages(tenant: string, sessionKey: string, floorSeq: number): Promise<void> {
    if (floorSeq < 1) return;
    await this.deleteWhere(
      keys.threadPk(tenant, sessionKey),
      { from: keys.message(1), to: keys.message(floorSeq) },
      () => true,
    );
  }

  async listByTenant(tenant: string, options: { after?: ThreadPosition; pageSize: number }): Promise<ThreadPage> {
    const index = TABLE.indexes.byTenant;
    const gsi1pk = keys.tenantIndex(tenant);
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.name,
        KeyConditionExpression: `${index.partitionKey} = :pk`,
        ExpressionAttributeValues: { ':pk': gsi1pk },
        ScanIndexForward: false,
        Limit: options.pageSize,
        ...(options.after
          ? {
              ExclusiveStartKey: {
                ...keys.thread(tenant, options.after.sessionKey),
                [index.partitionKey]: gsi1pk,
                [index.sortKey]: keys.tenantSort(options.after.createdAt, options.after.sessionKey),
              },
            }
          : {}),
      }),
    );
    return { threads: (result.Items ?? []).map(toThread), more: result.LastEvaluatedKey !== undefined };
  }

  async listLive(
    shard: number,
    options: { cursor?: Record<string, unknown>; pageSize: number; activeBefore?: string },
  ): Promise<{ threads: Thread[]; cursor?: Record<string, unknown> }> {
    const index = TABLE.indexes.activeByLastActive;
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.name,
        // The sort key starts with lastActiveAt, so idle candidates are a key range: no filter, no Scan.
        KeyConditionExpression: `${index.partitionKey} = :pk${options.activeBefore ? ` AND ${index.sortKey} < :before` : ''}`,
        ExpressionAttributeValues: {
          ':pk': keys.activeShard(shard),
          ...(options.activeBefore ? { ':before': options.activeBefore } : {}),
        },
        Limit: options.pageSize,
        ExclusiveStartKey: options.cursor,
      }),
    );
    return {
      threads: (result.Items ?? []).map(toThread),
      ...(result.LastEvaluatedKey ? { cursor: result.LastEvaluatedKey } : {}),
    };
  }

  liveCursorOf(thread: Thread): Record<string, unknown> {
    const index = TABLE.indexes.activeByLastActive;
    return {
      ...keys.thread(thread.tenant, thread.sessionKey),
      [index.partitionKey]: keys.activeIndex(thread.tenant, thread.sessionKey),
      [index.sortKey]: keys.activeSort(thread.lastActiveAt, thread.tenant, thread.sessionKey),
    };
  }

  async liveThreadsConsistent(visit: (thread: Pick<Thread, 'agent' | 'lease'>) => void): Promise<void> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          FilterExpression: 'kind = :thread AND #status = :active',
          ProjectionExpression: '#agent, lease',
          ExpressionAttributeNames: { '#status': 'status', '#agent': 'agent' },
          ExpressionAttributeValues: { ':thread': 'thread', ':active': 'active' },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) visit(item as Pick<Thread, 'agent' | 'lease'>);
      start = page.LastEvaluatedKey;
    } while (start);
  }

  counterVersions(agents: string[]): Promise<Map<string, number>> {
    return readCounterVersions(this.client, this.tableName, agents);
  }

  repairCounters(
    agent: string | undefined,
    values: { activeThreads: number; runningTurns?: number },
    observedChanges: number,
  ): Promise<boolean> {
    return repairCounter(this.client, this.tableName, agent, values, observedChanges);
  }

  counters(agents: string[]): Promise<{ agents: Record<string, AgentCounters>; activeThreads: number }> {
    return readCounters(this.client, this.tableName, agents);
  }

  auditTrail(tenant: string, sessionKey: string, threadId: string): Promise<AuditEntry[]> {
    return readChain(this.client, this.tableName, keys.threadPk(tenant, sessionKey), threadId);
  }

  /** The item a thread is stored as (keys and index keys included). */
  threadItem(thread: Thread): Record<string, unknown> {
    const byTenant = TABLE.indexes.byTenant;
    const active = TABLE.indexes.activeByLastActive;
    return {
      ...keys.thread(thread.tenant, thread.sessionKey),
      kind: 'thread',
      ...thread,
      [byTenant.partitionKey]: keys.tenantIndex(thread.tenant),
      [byTenant.sortKey]: keys.tenantSort(thread.createdAt, thread.sessionKey),
      // Sparse index: only live threads (and ones whose deletion is pending) carry these keys, so the
      // idle sweep never reads the terminated ones.
      ...(thread.status === 'active' || thread.destroyPending
        ? {
            [active.partitionKey]: keys.activeIndex(thread.tenant, thread.sessionKey),
            [active.sortKey]: keys.activeSort(thread.lastActiveAt, thread.tenant, thread.sessionKey),
          }
        : {}),
    };
  }

  private auditPut(entry: AuditEntry, thread: Thread) {
    return auditPut(this.tableName, keys.threadPk(thread.tenant, thread.sessionKey), entry);
  }

  /** Deletes the items of a partition (optionally within a sort-key range) that `keep` does not exclude. */
  private async deleteWhere(
    pk: string,
    range: { from: string; to: string } | undefined,
    select: (sk: string) => boolean,
  ): Promise<void> {
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: range ? 'pk = :pk AND sk BETWEEN :from AND :to' : 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk, ...(range ? { ':from': range.from, ':to': range.to } : {}) },
          ProjectionExpression: 'pk, sk',
          ExclusiveStartKey: start,
        }),
      );
      const doomed = (result.Items ?? []).filter((item) => select(String(item.sk)));
      for (let i = 0; i < doomed.length; i += 25) await this.batchDelete(doomed.slice(i, i + 25));
      start = result.LastEvaluatedKey;
    } while (start);
  }

  private async batchDelete(items: Record<string, unknown>[]): Promise<void> {
    let requests = items.map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
    for (let attempt = 0; requests.length > 0; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt)));
      const result = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
      requests = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
    }
  }
}

function toThread(item: Record<string, unknown>): Thread {
  return stripKeys(item) as unknown as Thread;
}
