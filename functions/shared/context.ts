import { agentsOverview } from '../../lib/agents/overview.js';
import { loadConfig } from '../../lib/config/load.js';
import { DynamoApiKeyStore } from '../../lib/store/dynamodb/api-key-store.js';
import { createDocumentClient } from '../../lib/store/dynamodb/client.js';
import { DynamoThreadStore } from '../../lib/store/dynamodb/thread-store.js';
import { ThreadService } from '../../lib/threads/service.js';

/** The table every function works on (set by CDK and by the local stack). */
function tableName(): string {
  const name = process.env.TABLE_NAME;
  if (!name) throw new Error('TABLE_NAME is not set');
  return name;
}

// Created once per function instance at cold start and reused by every invocation.
export const config = loadConfig();
export const documentClient = createDocumentClient();
export const threadStore = new DynamoThreadStore(documentClient, tableName());
export const apiKeyStore = new DynamoApiKeyStore(documentClient, tableName());
export const threads = new ThreadService(config, threadStore);
export const agents = { overview: () => agentsOverview(config, threadStore) };
