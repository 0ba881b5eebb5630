import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { CursorStore, SweepCursor } from '../../maintenance/ports.js';
import { keys } from './keys.js';

/** Maintenance cursors as items `MAINTENANCE#<job>` / `CURSOR` in the table. */
export class DynamoCursorStore implements CursorStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(job: string): Promise<SweepCursor | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.maintenanceCursor(job), ConsistentRead: true }),
    );
    return result.Item ? (result.Item.cursor as SweepCursor) : undefined;
  }

  async put(job: string, cursor: SweepCursor | undefined): Promise<void> {
    if (!cursor) {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: keys.maintenanceCursor(job) }));
      return;
    }
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.maintenanceCursor(job), kind: 'cursor', cursor, updatedAt: new Date().toISOString() },
      }),
    );
  }
}
