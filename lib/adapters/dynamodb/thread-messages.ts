import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ThreadMessages } from '../../threads/ports.js';
import type { Message } from '../../turns/model.js';
import { stripKeys } from './audit-items.js';
import { keys } from './keys.js';
import { batchDelete, deleteWhere } from './partition-deletes.js';

/** A thread's messages as `MSG#<seq>` items of its partition, so seq ranges are key ranges. */
export class DynamoThreadMessages implements ThreadMessages {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async messagesAfter(tenant: string, sessionKey: string, afterSeq: number, limit: number): Promise<Message[]> {
    return this.queryMessages(tenant, sessionKey, { from: keys.message(afterSeq + 1), forward: true, limit });
  }

  async latestMessages(tenant: string, sessionKey: string, floorSeq: number, limit: number): Promise<Message[]> {
    return this.queryMessages(tenant, sessionKey, { from: keys.message(floorSeq + 1), forward: false, limit });
  }

  async deleteMessages(tenant: string, sessionKey: string, seqs: number[]): Promise<void> {
    const pk = keys.threadPk(tenant, sessionKey);
    await batchDelete(
      this.client,
      this.tableName,
      seqs.map((seq) => ({ pk, sk: keys.message(seq) })),
    );
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
    await batchDelete(this.client, this.tableName, doomed);
    return doomed.length;
  }

  async trimMessages(tenant: string, sessionKey: string, floorSeq: number): Promise<void> {
    if (floorSeq < 1) return;
    await deleteWhere(
      this.client,
      this.tableName,
      keys.threadPk(tenant, sessionKey),
      { from: keys.message(1), to: keys.message(floorSeq) },
      () => true,
    );
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
}
