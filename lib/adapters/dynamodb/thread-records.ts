import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '../../audit/chain.js';
import { LimitReachedError, ThreadError } from '../../threads/errors.js';
import type { Thread } from '../../threads/model.js';
import type {
  CounterDelta,
  SpawnLimits,
  ThreadPage,
  ThreadPosition,
  ThreadRecords,
  ThreadWrite,
  TransitionOutcome,
} from '../../threads/ports.js';
import { refusalOf } from '../../threads/refusals.js';
import type { Turn } from '../../turns/model.js';
import { auditPut, stripKeys } from './audit-items.js';
import { CounterItems } from './counters.js';
import { keys } from './keys.js';
import { deleteWhere } from './partition-deletes.js';
import { TABLE } from './table-definition.js';
import { threadItem, toThread } from './thread-items.js';
import { type ItemRefusal, writeItem } from './thread-writes.js';
import { type TransactItems, transactWrite } from './transact.js';

/** Seconds a client should wait before retrying a spawn refused by a full limit. */
export const LIMIT_RETRY_AFTER_SECONDS = 30;

/** Threads, turns and queues on the single DynamoDB table; every state change is one transaction. */
export class DynamoThreadRecords implements ThreadRecords {
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
          Item: threadItem(thread),
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
    const context = {
      tableName: this.tableName,
      pk: keys.threadPk(after.tenant, after.sessionKey),
      counterItems: this.counterItems,
    };
    // Each item's refusal reason, by position in the transaction.
    const planned: { item: TransactItems[number]; refusal: ItemRefusal }[] = [
      {
        item: {
          Put: {
            TableName: this.tableName,
            Item: threadItem(after),
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
        refusal: 'version',
      },
      ...(audit ? [{ item: this.auditPut(audit, after), refusal: 'invariant' as const }] : []),
      ...this.counterItems.apply(counters).map((item) => ({ item, refusal: 'invariant' as const })),
      ...writes.map((write) => writeItem(write, context)),
    ];
    const outcome = await transactWrite(
      this.client,
      planned.map(({ item }) => item),
    );
    if (outcome.ok) return { ok: true };
    const reason = refusalOf(outcome.failedConditions.map((index) => planned[index]!.refusal));
    if (reason) return { ok: false, reason };
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

  async destroy(tenant: string, sessionKey: string, threadId: string): Promise<void> {
    const pk = keys.threadPk(tenant, sessionKey);
    // Everything but the thread item first: while it exists (terminated), a respawn of the key gets
    // thread_exists, and a repeated DELETE finds the thread and finishes an interrupted deletion.
    await deleteWhere(this.client, this.tableName, pk, undefined, (sk) => sk !== 'META' && !sk.startsWith('AUDIT#'));
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

  private auditPut(entry: AuditEntry, thread: Thread) {
    return auditPut(this.tableName, keys.threadPk(thread.tenant, thread.sessionKey), entry);
  }
}
