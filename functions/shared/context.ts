import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { AgentEvents } from '../../lib/agents/events.js';
import { agentsOverview } from '../../lib/agents/overview.js';
import { AgentRuntime } from '../../lib/agents/runtime.js';
import { durationMs } from '../../lib/config/duration.js';
import { loadConfig } from '../../lib/config/load.js';
import { configuredProviders, providerOf } from '../../lib/models/chain.js';
import { CircuitBreaker } from '../../lib/models/circuit-breaker.js';
import { SecretAdmin } from '../../lib/secrets/admin.js';
import { processRedactor } from '../../lib/secrets/redactor.js';
import { SecretResolver } from '../../lib/secrets/resolver.js';
import { SecretsManagerSource } from '../../lib/secrets/secrets-manager-source.js';
import { DynamoAgentEvents } from '../../lib/store/dynamodb/agent-events.js';
import { DynamoApiKeyStore } from '../../lib/store/dynamodb/api-key-store.js';
import { DynamoAuditChains } from '../../lib/store/dynamodb/audit-chains.js';
import { DynamoAuditSearch } from '../../lib/store/dynamodb/audit-search.js';
import { DynamoCircuitStore } from '../../lib/store/dynamodb/circuit-store.js';
import { createDocumentClient } from '../../lib/store/dynamodb/client.js';
import { DynamoCursorStore } from '../../lib/store/dynamodb/cursor-store.js';
import { DynamoSecretLedger } from '../../lib/store/dynamodb/secret-ledger.js';
import { DynamoThreadNotes } from '../../lib/store/dynamodb/thread-notes.js';
import { ThreadService } from '../../lib/threads/service.js';
import { httpGetTool, memoryTools, spawnTool } from '../../lib/tools/builtins.js';
import { CUSTOM_TOOLS } from '../../lib/tools/custom.js';
import { ToolRegistry } from '../../lib/tools/registry.js';
import { TurnService } from '../../lib/turns/service.js';
import { StepFunctionsStarter } from '../../lib/workflows/sfn-starter.js';
import { logger } from './logger.js';
import { METRIC } from './metric-names.js';
import { emitMetric } from './metrics.js';
import { tracer } from './tracer.js';
import { MeteredThreadStore } from './turn-metrics.js';

/** The table every function works on (set by CDK and by the local stack). */
function tableName(): string {
  return requiredEnv('TABLE_NAME');
}

// Created once per function instance at cold start and reused by every invocation. The AWS SDK
// clients are traced (X-Ray subsegments per call; a no-op where tracing is off).
export const config = loadConfig();
export const documentClient = tracer.captureAWSv3Client(createDocumentClient());
const sfn = tracer.captureAWSv3Client(new SFNClient({}));
/** The table adapter, counting every turn that ends (functions/shared/turn-metrics.ts). */
export const threadStore = new MeteredThreadStore(documentClient, tableName());
export const apiKeyStore = new DynamoApiKeyStore(documentClient, tableName());
export const cursors = new DynamoCursorStore(documentClient, tableName());
export const threads = new ThreadService(config, threadStore);
export const agents = { overview: () => agentsOverview(config, threadStore) };
// The state machine ARN is only read when a turn starts, so functions that start none need not set it.
export const turns = new TurnService(config, threadStore, {
  start: (name, input) => new StepFunctionsStarter(sfn, requiredEnv('STATE_MACHINE_ARN')).start(name, input),
});
// Endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER when set (the local stack), else the region's.
export const secretsManager = tracer.captureAWSv3Client(new SecretsManagerClient({}));
export const secretLedger = new DynamoSecretLedger(documentClient, tableName());
/** One resolver per process: its cache and its de-duplication of fetches span every invocation. */
const secretsManagerSource = new SecretsManagerSource(secretsManager);
export const secretResolver = new SecretResolver(config, secretsManagerSource, secretLedger, {
  onAccess: ({ secret, outcome }) =>
    emitMetric(outcome === 'served' ? METRIC.secretAccess : METRIC.secretDenied, { secret }),
});
// ROTATION_FUNCTION_ARN is set on the function that starts rotations (CDK and the local stack).
export const secretAdmin = new SecretAdmin(config, secretsManagerSource, secretLedger, {
  rotationFunctionArn: process.env.ROTATION_FUNCTION_ARN,
});
export const auditSearch = new DynamoAuditSearch(documentClient, tableName());
/** Every audit chain of the table, for `GET /v1/audit/verify`. */
export const auditChains = new DynamoAuditChains(documentClient, tableName());
/** Every tool of this deployment: the built-ins and the ones registered in code (lib/tools/custom.ts). */
export const tools = new ToolRegistry([
  ...memoryTools(new DynamoThreadNotes(documentClient, tableName())),
  httpGetTool,
  spawnTool,
  ...CUSTOM_TOOLS,
]);
/** The agents' own audit chains (AGENT#<name>): tool denials, model fallbacks, agent restarts. */
export const agentAudit = new DynamoAgentEvents(documentClient, tableName());
/**
 * Tool denials and model fallbacks: counted, logged, and audited in the agent's chain. The audit is
 * recorded on a best-effort basis: a turn never fails (nor loses its fallback's budget) because that
 * chain was busy; a failed append is logged and counted instead.
 */
export const agentEvents: AgentEvents = {
  async toolDenied(scope, details) {
    emitMetric(METRIC.toolDenied, { agent: scope.agent, tool: details.tool });
    logger.warn('tool call denied', { ...scope, tool: details.tool, reason: details.reason });
    await agentAudit.toolDenied(scope, details).catch((error: unknown) => auditFailed('tool_denied', scope, error));
  },
  async modelFallback(scope, details) {
    emitMetric(METRIC.modelFallback, { agent: scope.agent, provider: providerOf(details.from) });
    logger.warn('model fallback', {
      ...scope,
      from: details.from,
      to: details.to,
      reason: details.reason,
      status: details.status,
    });
    await agentAudit
      .modelFallback(scope, details)
      .catch((error: unknown) => auditFailed('model_fallback', scope, error));
  },
};

function auditFailed(type: string, scope: object, error: unknown): void {
  emitMetric(METRIC.auditWriteFailed, { type });
  logger.error('could not audit an agent event', { type, ...scope, error: error as Error });
}

/** The providers' circuits, shared by every instance through the table. */
export const providerHealth = new CircuitBreaker(new DynamoCircuitStore(documentClient, tableName()), {
  failureThreshold: config.circuitBreaker.failureThreshold,
  cooldownMs: durationMs(config.circuitBreaker.cooldown),
  onTransition: (provider, state) => {
    if (state === 'open') emitMetric(METRIC.circuitOpened, { provider });
    if (state === 'closed') emitMetric(METRIC.circuitClosed, { provider });
    logger.info('circuit changed', { provider, state });
  },
});
export const agentRuntime = new AgentRuntime(config, threadStore, threads, turns, {
  providers: configuredProviders(config),
  secrets: secretResolver,
  tools,
  events: agentEvents,
  health: providerHealth,
});

// A redaction hit means a secret value was about to leave the process: count it, in the metrics
// and on the secret's own figures, and say so (the line names the secret, never the value). The
// metric has no dimension but `service`, so one alarm sees every exposure, and it is published at
// once (not with the invocation's metrics, which a crash could lose).
processRedactor.onExposure((secret, count) => {
  emitMetric(METRIC.exposureRisk, {}, count);
  logger.warn('exposure risk: a secret value was redacted from outgoing data', { secret, count });
  secretLedger
    .recordExposures(secret, count)
    .catch((error: unknown) =>
      logger.error('could not count an exposure-risk event', { secret, error: error as Error }),
    );
});

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
