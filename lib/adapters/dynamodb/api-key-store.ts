import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ApiKeyRecord, ApiKeyStore } from '../../auth/api-keys.js';
import { keys } from './keys.js';

/** API keys as items `APIKEY#<sha256>` in the table (the authorizer's IAM role may read only these). */
export class DynamoApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async findByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const result = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keys.apiKey(keyHash) }));
    if (!result.Item) return undefined;
    const { tenant, admin, label, createdAt } = result.Item;
    return {
      keyHash,
      tenant: String(tenant),
      admin: admin === true,
      label: label as string | undefined,
      createdAt: String(createdAt),
    };
  }

  async put(record: ApiKeyRecord): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.apiKey(record.keyHash), kind: 'apikey', ...record },
      }),
    );
  }
}
