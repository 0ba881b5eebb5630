import { SFNClient } from '@aws-sdk/client-sfn';
import { agentsOverview } from '../../lib/agents/overview.js';
import { AgentRuntime } from '../../lib/agents/runtime.js';
import { loadConfig } from '../../lib/config/load.js';
import { DynamoApiKeyStore } from '../../lib/store/dynamodb/api-key-store.js';
import { DynamoCursorStore } from '../../lib/store/dynamodb/cursor-store.js';
import { createDocumentClient } from '../../lib/store/dynamodb/client.js';
import { DynamoThreadStore } from '../../lib/store/dynamodb/thread-store.js';
import { ThreadService } from '../../lib/threads/service.js';
import { TurnService } from '../../lib/turns/service.js';
import { StepFunctionsStarter } from '../../lib/workflows/sfn-starter.js';

/** The table every function works on (set by CDK and by the local stack). */
function tableName(): string {
  return requiredEnv('TABLE_NAME');
}

// Created once per function instance at cold start and reused by every invocation.
export const config = loadConfig();
export const documentClient = createDocumentClient();
export const threadStore = new DynamoThreadStore(documentClient, tableName());
export const apiKeyStore = new DynamoApiKeyStore(documentClient, tableName());
export const cursors = new DynamoCursorStore(documentClient, tableName());
export const threads = new ThreadService(config, threadStore);
export const agents = { overview: () => agentsOverview(config, threadStore) };
// The state machine ARN is only read when a turn starts, so functions that start none need not set it.
export const turns = new TurnService(config, threadStore, {
  start: (name, input) => new StepFunctionsStarter(sfnClient(), requiredEnv('STATE_MACHINE_ARN')).start(name, input),
});
export const agentRuntime = new AgentRuntime(config, threadStore, threads, turns);

let sfn: SFNClient | undefined;
function sfnClient(): SFNClient {
  sfn ??= new SFNClient({});
  return sfn;
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
