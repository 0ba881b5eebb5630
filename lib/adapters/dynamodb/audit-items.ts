import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AuditEntry, type AuditEvent, chainEntry, GENESIS_HASH } from '../../audit/chain.js';
import { retryOptimistic } from '../../threads/optimistic.js';
import { keys } from './keys.js';
import { TABLE } from './table-definition.js';
import { transactWrite } from './transact.js';

/** Attributes that place an item in the table; everything else is the stored object. */
export const KEY_ATTRIBUTES = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'gsi3sk', 'kind'] as const;

/** The stored object without its key attributes. */
export function stripKeys(item: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...item };
  for (const attribute of KEY_ATTRIBUTES) delete rest[attribute];
  return rest;
}

/** The Put of an audit entry in partition `pk`, indexed by date for `GET /v1/audit`. */
export function auditPut(tableName: string, pk: string, entry: AuditEntry) {
  const index = TABLE.indexes.auditByDate;
  return {
    Put: {
      TableName: tableName,
      Item: {
        pk,
        sk: keys.audit(entry.chain, entry.seq),
        kind: 'audit',
        ...entry,
        [index.partitionKey]: keys.auditIndex(entry.at, pk),
        [index.sortKey]: keys.auditSort(entry.at, pk, entry.seq),
      },
      // Append-only: an entry, once written, is never overwritten.
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/** Counters and fields updated on a chain's head item in the same transaction as the append. */
export interface HeadUpdate {
  add?: Record<string, number>;
  set?: Record<string, unknown>;
  remove?: string[];
}

/**
 * Audit chains of partitions that have no thread to serialise them (`SECRET#<name>`,
 * `AGENT#<name>`): the head (seq, hash) lives on a head item, and each append is one transaction
 * that moves the head conditionally and puts the entry.
 */
export class PartitionAuditLog {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Appends `event` to the chain of (pk, headSk), updating the head item's counters with it. */
  async append(
    pk: string,
    headSk: string,
    chain: string,
    event: AuditEvent,
    update: HeadUpdate = {},
  ): Promise<AuditEntry> {
    return retryOptimistic<AuditEntry>(
      async () => {
        const head = await this.client.send(
          new GetCommand({
            TableName: this.tableName,
            Key: { pk, sk: headSk },
            ConsistentRead: true,
            ProjectionExpression: 'auditSeq, auditHash',
          }),
        );
        const seq = (head.Item?.auditSeq as number | undefined) ?? 0;
        const entry = chainEntry(
          chain,
          { seq, hash: (head.Item?.auditHash as string | undefined) ?? GENESIS_HASH },
          event,
        );
        const names: Record<string, string> = { '#seq': 'auditSeq', '#hash': 'auditHash' };
        const values: Record<string, unknown> = { ':seq': entry.seq, ':hash': entry.hash, ':prev': seq };
        const sets = ['#seq = :seq', '#hash = :hash'];
        const adds: string[] = [];
        Object.entries(update.set ?? {}).forEach(([field, value], i) => {
          names[`#s${i}`] = field;
          values[`:s${i}`] = value;
          sets.push(`#s${i} = :s${i}`);
        });
        Object.entries(update.add ?? {}).forEach(([field, value], i) => {
          names[`#a${i}`] = field;
          values[`:a${i}`] = value;
          adds.push(`#a${i} :a${i}`);
        });
        const removes = (update.remove ?? []).map((field, i) => {
          names[`#r${i}`] = field;
          return `#r${i}`;
        });
        const outcome = await transactWrite(this.client, [
          {
            Update: {
              TableName: this.tableName,
              Key: { pk, sk: headSk },
              UpdateExpression: `SET ${sets.join(', ')}${adds.length ? ` ADD ${adds.join(', ')}` : ''}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
              // Two appenders that read the same head: only one may link its entry to it; the other rereads.
              ConditionExpression: '(attribute_not_exists(#seq) AND :prev = :zero) OR #seq = :prev',
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: { ...values, ':zero': 0 },
            },
          },
          auditPut(this.tableName, pk, entry),
        ]);
        return outcome.ok ? entry : undefined;
      },
      () => {
        throw new Error(`could not append to the audit chain ${chain}: too much contention`);
      },
    );
  }
}

/** Every entry of the chain `chain` in partition `pk`, in order. */
export async function readChain(
  client: DynamoDBDocumentClient,
  tableName: string,
  pk: string,
  chain: string,
): Promise<AuditEntry[]> {
  return (await readStoredChain(client, tableName, pk, chain)).entries;
}

/** Every entry of a chain in key order, with the seq each one's key places it at (what verification compares its contents with). */
export async function readStoredChain(
  client: DynamoDBDocumentClient,
  tableName: string,
  pk: string,
  chain: string,
): Promise<{ entries: AuditEntry[]; slots: number[] }> {
  const entries: AuditEntry[] = [];
  const slots: number[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const result = await client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': auditPrefix(chain) },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of result.Items ?? []) {
      entries.push(stripKeys(item) as unknown as AuditEntry);
      slots.push(auditSlot(String(item.sk)));
    }
    start = result.LastEvaluatedKey;
  } while (start);
  return { entries, slots };
}

/** The sort-key prefix of every entry of a chain. */
export function auditPrefix(chain: string): string {
  return `AUDIT#${chain}#`;
}

/** The seq an audit item's sort key (`AUDIT#<chain>#<10-digit seq>`) places it at. */
export function auditSlot(sk: string): number {
  return Number(sk.slice(sk.lastIndexOf('#') + 1));
}

/** The chain an audit item's sort key names, or undefined for a sort key that is not an audit entry's. */
export function auditChainOf(sk: string): string | undefined {
  const last = sk.lastIndexOf('#');
  return sk.startsWith('AUDIT#') && last > 'AUDIT#'.length ? sk.slice('AUDIT#'.length, last) : undefined;
}
