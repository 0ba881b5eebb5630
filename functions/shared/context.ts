import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { agentsOverview } from '../../lib/agents/overview.js';
import { AgentRuntime } from '../../lib/agents/runtime.js';
import { loadConfig } from '../../lib/config/load.js';
import { configuredProviders } from '../../lib/models/chain.js';
import { SecretAdmin } from '../../lib/secrets/admin.js';
import { processRedactor } from '../../lib/secrets/redactor.js';
import { SecretResolver } from '../../lib/secrets/resolver.js';
import { SecretsManagerSource } from '../../lib/secrets/secrets-manager-source.js';
import { DynamoSecretLedger } from '../../lib/store/dynamodb/secret-ledger.js';
import { DynamoAuditSearch } from '../../lib/store/dynamodb/audit-search.js';
import { DynamoApiKeyStore } from '../../lib/store/dynamodb/api-key-store.js';
import { DynamoCursorStore } from '../../lib/store/dynamodb/cursor-store.js';
import { createDocumentClient } from '../../lib/store/dynamodb/client.js';
import { DynamoThreadStore } from '../../lib/store/dynamodb/thread-store.js';
import { ThreadService } from '../../lib/threads/service.js';
import { TurnService } from '../../lib/turns/service.js';
import { StepFunctionsStarter } from '../../lib/workflows/sfn-starter.js';
import { logger } from './logger.js';
import { metrics } from './metrics.js';

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
// Endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER when set (the local stack), else the region's.
export const secretsManager = new SecretsManagerClient({});
export const secretLedger = new DynamoSecretLedger(documentClient, tableName());
/** One resolver per process: its cache and its de-duplication of fetches span every invocation. */
const secretsManagerSource = new SecretsManagerSource(secretsManager);
export const secretResolver = new SecretResolver(config, secretsManagerSource, secretLedger);
// ROTATION_FUNCTION_ARN is set on the function that starts rotations (CDK and the local stack).
export const secretAdmin = new SecretAdmin(config, secretsManagerSource, secretLedger, { rotationFunctionArn: process.env.ROTATION_FUNCTION_ARN });
export const auditSearch = new DynamoAuditSearch(documentClient, tableName());
export const agentRuntime = new AgentRuntime(config, threadStore, threads, turns, { providers: configuredProviders(config), secrets: secretResolver });

// A redaction hit means a secret value was about to leave the process: count it, in the metrics
// and on the secret's own figures, and say so (the line names the secret, never the value).
processRedactor.onExposure((secret, count) => {
  metrics.addMetric('ExposureRisk', MetricUnit.Count, count);
  logger.warn('exposure risk: a secret value was redacted from outgoing data', { secret, count });
  secretLedger.recordExposures(secret, count).catch((error: unknown) => logger.error('could not count an exposure-risk event', { secret, error: error as Error }));
});

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
