import { DynamoApiKeyStore } from '../../../lib/adapters/dynamodb/api-key-store.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** The API keys the authorizer resolves bearer keys with. */
export const apiKeyStore = new DynamoApiKeyStore(documentClient, tableName());
