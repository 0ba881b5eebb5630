import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '../../audit/chain.js';
import { AuditCursorError, type AuditFilter, type AuditPage, type AuditSearch } from '../../audit/query.js';
import { stripKeys } from './audit-items.js';
import { INDEX_SHARDS, TABLE } from './table-definition.js';

const DAY_MS = 86_400_000;

/**
 * AuditSearch on the date index: for each day of the window, the shards of that day are read in
 * sort-key order (`<at>#<pk>#<seq>`) and merged, so a page is the oldest `limit` matches after the
 * cursor across every chain. The cursor is the last sort key returned.
 */
export class DynamoAuditSearch implements AuditSearch {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async search(filter: AuditFilter): Promise<AuditPage> {
    const after = filter.cursor === undefined ? undefined : decode(filter.cursor);
    const lower = after ?? filter.from.toISOString();
    const upper = `${filter.to.toISOString()}~`;
    const found: { sort: string; entry: AuditEntry }[] = [];
    for (
      let day = startOfDay(after ? new Date(after.slice(0, 24)) : filter.from);
      day <= filter.to.getTime() && found.length < filter.limit;
      day += DAY_MS
    ) {
      const date = new Date(day).toISOString().slice(0, 10);
      const perShard = await Promise.all(
        Array.from({ length: INDEX_SHARDS }, (_, shard) =>
          this.shard(`AUDIT#${date}#${shard}`, lower, upper, after !== undefined, filter),
        ),
      );
      found.push(...perShard.flat().sort((a, b) => (a.sort < b.sort ? -1 : 1)));
    }
    const page = found.slice(0, filter.limit);
    // A full page may have a successor; the next call answers an empty page if it has none.
    return {
      entries: page.map((f) => f.entry),
      ...(page.length === filter.limit ? { cursor: encode(page.at(-1)!.sort) } : {}),
    };
  }

  /** Up to `limit` matching entries of one shard of one day, in sort-key order. */
  private async shard(
    partition: string,
    lower: string,
    upper: string,
    exclusive: boolean,
    filter: AuditFilter,
  ): Promise<{ sort: string; entry: AuditEntry }[]> {
    const index = TABLE.indexes.auditByDate;
    const conditions: string[] = [];
    const names: Record<string, string> = { '#pk': index.partitionKey, '#sk': index.sortKey };
    const values: Record<string, unknown> = { ':pk': partition, ':lower': lower, ':upper': upper };
    for (const field of ['type', 'sessionKey', 'agent', 'tenant'] as const) {
      if (filter[field] === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = filter[field];
      conditions.push(`#${field} = :${field}`);
    }
    const out: { sort: string; entry: AuditEntry }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: `#pk = :pk AND #sk BETWEEN :lower AND :upper`,
          ...(conditions.length ? { FilterExpression: conditions.join(' AND ') } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of result.Items ?? []) {
        const sort = String(item[index.sortKey]);
        if (exclusive && sort === lower) continue;
        out.push({ sort, entry: stripKeys(item) as unknown as AuditEntry });
        if (out.length > filter.limit) return out;
      }
      start = result.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

function startOfDay(date: Date): number {
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
}

function encode(sort: string): string {
  return Buffer.from(JSON.stringify({ s: sort })).toString('base64url');
}

function decode(cursor: string): string {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { s?: unknown };
    if (typeof value.s === 'string' && !Number.isNaN(Date.parse(value.s.slice(0, 24)))) return value.s;
  } catch {
    // fall through
  }
  throw new AuditCursorError('the cursor is not one this API returned');
}
