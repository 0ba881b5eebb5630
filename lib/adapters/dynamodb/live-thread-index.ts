import { type DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Thread } from '../../threads/model.js';
import type { LiveCursor, LivePage, LiveThreadIndex } from '../../threads/ports.js';
import { keys } from './keys.js';
import { TABLE } from './table-definition.js';
import { toThread } from './thread-items.js';

const INDEX = TABLE.indexes.activeByLastActive;

/** The attributes of a position in the live-thread index: the table's key and the index's key. */
const KEY_ATTRIBUTES = [TABLE.partitionKey, TABLE.sortKey, INDEX.partitionKey, INDEX.sortKey].sort();

/**
 * The live cursor of a position in the index: the JSON text of its key (what positions stored
 * before the cursor was opaque held as an object, so those still resume where they were).
 */
export function encodeLiveCursor(key: Record<string, unknown>): LiveCursor {
  return JSON.stringify(key);
}

/**
 * The index key a live cursor of `shard` names; undefined for anything else (exactly the index's
 * attributes, strings, in the shard's partition: DynamoDB would refuse another key mid-walk).
 */
export function decodeLiveCursor(shard: number, cursor: LiveCursor): Record<string, string> | undefined {
  let key: unknown;
  try {
    key = JSON.parse(cursor);
  } catch {
    return undefined;
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return undefined;
  const names = Object.keys(key).sort();
  if (names.length !== KEY_ATTRIBUTES.length || names.some((name, i) => name !== KEY_ATTRIBUTES[i])) return undefined;
  const values = Object.values(key);
  if (!values.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 1024)) return undefined;
  const typed = key as Record<string, string>;
  return typed[INDEX.partitionKey] === keys.activeShard(shard) ? typed : undefined;
}

/** The sparse live-thread index (a GSI over the thread items), and the consistent Scan reconciliation counts with. */
export class DynamoLiveThreadIndex implements LiveThreadIndex {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async listLive(
    shard: number,
    options: { cursor?: LiveCursor; pageSize: number; activeBefore?: string },
  ): Promise<LivePage> {
    let start = options.cursor === undefined ? undefined : decodeLiveCursor(shard, options.cursor);
    // A cursor from a walk over a wider range (e.g. before idleTimeout was raised) may lie beyond
    // this one's: DynamoDB would refuse it, so the shard starts over (as it does for a cursor it cannot read).
    if (start && options.activeBefore && start[INDEX.sortKey]! >= options.activeBefore) start = undefined;
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: INDEX.name,
        // The sort key starts with lastActiveAt, so idle candidates are a key range: no filter, no Scan.
        KeyConditionExpression: `${INDEX.partitionKey} = :pk${options.activeBefore ? ` AND ${INDEX.sortKey} < :before` : ''}`,
        ExpressionAttributeValues: {
          ':pk': keys.activeShard(shard),
          ...(options.activeBefore ? { ':before': options.activeBefore } : {}),
        },
        Limit: options.pageSize,
        ExclusiveStartKey: start,
      }),
    );
    return {
      threads: (result.Items ?? []).map(toThread),
      ...(result.LastEvaluatedKey ? { cursor: encodeLiveCursor(result.LastEvaluatedKey) } : {}),
    };
  }

  liveCursorOf(thread: Thread): LiveCursor {
    return encodeLiveCursor({
      ...keys.thread(thread.tenant, thread.sessionKey),
      [INDEX.partitionKey]: keys.activeIndex(thread.tenant, thread.sessionKey),
      [INDEX.sortKey]: keys.activeSort(thread.lastActiveAt, thread.tenant, thread.sessionKey),
    });
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
}
