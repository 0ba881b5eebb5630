import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ThreadNotes } from '../../tools/port.js';
import { ToolError } from '../../tools/port.js';
import { keys } from './keys.js';
import { transactWrite } from './transact.js';

/** Notes a thread's agent keeps (memory.write), as NOTE#<key> items in the thread's partition. */
export class DynamoThreadNotes implements ThreadNotes {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(
    tenant: string,
    sessionKey: string,
    key?: string,
  ): Promise<{ key: string; value: string; updatedAt: string }[]> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: key === undefined ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk AND sk = :sk',
        ExpressionAttributeValues: {
          ':pk': keys.threadPk(tenant, sessionKey),
          ...(key === undefined ? { ':prefix': 'NOTE#' } : { ':sk': keys.note(key) }),
        },
        ConsistentRead: true,
      }),
    );
    return (result.Items ?? []).map((item) => ({
      key: String(item.noteKey),
      value: String(item.value),
      updatedAt: String(item.updatedAt),
    }));
  }

  async write(
    tenant: string,
    sessionKey: string,
    turnId: string,
    key: string,
    value: string,
    at: string,
  ): Promise<void> {
    const pk = keys.threadPk(tenant, sessionKey);
    const outcome = await transactWrite(this.client, [
      {
        // A turn that lost its lease (timed out, taken over) must not write into the thread any more.
        ConditionCheck: {
          TableName: this.tableName,
          Key: keys.thread(tenant, sessionKey),
          ConditionExpression: '#lease.turnId = :turnId',
          ExpressionAttributeNames: { '#lease': 'lease' },
          ExpressionAttributeValues: { ':turnId': turnId },
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: { pk, sk: keys.note(key), kind: 'note', noteKey: key, value, updatedAt: at, turnId },
        },
      },
    ]);
    if (!outcome.ok) throw new ToolError(`turn ${turnId} no longer holds the thread's lease: the note was not written`);
  }
}
