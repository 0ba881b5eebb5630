import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { ensureTable } from '../../infra/local/ensure-table.js';
import { createDocumentClient } from '../../lib/adapters/dynamodb/client.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** A fresh table on the run's DynamoDB Local, with helpers to inspect it. */
export interface TestTable {
  endpoint: string;
  tableName: string;
  client: DynamoDBDocumentClient;
  /** Every item of the table, sorted by key: compare two snapshots to prove nothing was written. */
  scanAll(): Promise<Record<string, unknown>[]>;
  getItem(pk: string, sk: string): Promise<Record<string, unknown> | undefined>;
  drop(): Promise<void>;
}

/** Creates a uniquely named table from the shared definition. */
export async function createTestTable(prefix = 'test'): Promise<TestTable> {
  const endpoint = inject('dynamoEndpoint');
  const tableName = `${prefix}-${randomBytes(4).toString('hex')}`;
  const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials });
  await ensureTable(raw, tableName);
  const client = createDocumentClient({ endpoint, region: 'us-east-1', credentials });
  return {
    endpoint,
    tableName,
    client,
    async scanAll() {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return items.sort((a, b) => `${a.pk}|${a.sk}`.localeCompare(`${b.pk}|${b.sk}`));
    },
    async getItem(pk, sk) {
      return (await client.send(new GetCommand({ TableName: tableName, Key: { pk, sk }, ConsistentRead: true }))).Item;
    },
    async drop() {
      await raw.send(new DeleteTableCommand({ TableName: tableName })).catch((error: unknown) => {
        if (!(error instanceof ResourceNotFoundException)) throw error;
      });
      raw.destroy();
      client.destroy();
    },
  };
}
