import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoApiKeyStore } from '../../lib/adapters/dynamodb/api-key-store.js';
import { createDocumentClient } from '../../lib/adapters/dynamodb/client.js';
import { ROUTES } from '../../lib/api/routes.js';
import { loadConfig } from '../../lib/config/load.js';
import { rateIntervalMs } from '../../lib/config/schedule.js';
import { renderTurnDefinition } from '../../lib/workflows/turn-workflow.js';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local.js';
import { ensureTable } from './ensure-table.js';
import { createApiServer } from './http-server.js';
import { enableConcurrentInvocations, localInvocation } from './invocations.js';
import { type LocalKey, localKeys, registerKeys } from './local-api-keys.js';
import { ensureGeneratedSecrets, rotationTick } from './rotation-schedule.js';
import { type LocalSecretsManager, startLocalSecretsManager } from './secrets-manager.js';
import {
  type LocalExecution,
  type LocalFunction,
  type LocalStepFunctions,
  startLocalStepFunctions,
} from './step-functions.js';

const FUNCTIONS_DIR = fileURLToPath(new URL('../../functions/', import.meta.url));
/** Local names of the workflow's functions (CDK uses `<stack>-agent-<name>` and its own turn-control name). */
export const LOCAL_AGENT_FUNCTION_PREFIX = 'threadbound-agent-';
const LOCAL_TURN_CONTROL = 'threadbound-turn-control';
/** The rotation function's ARN as the local Secrets Manager knows it (CDK: the rotation Lambda's ARN). */
export const LOCAL_ROTATION_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:threadbound-rotation';
/** The idle sweep's interval when cleanupSchedule is a cron expression (no fixed interval to copy). */
const DEFAULT_LOCAL_CLEANUP_MS = 5 * 60_000;

/** How to start the local stack. */
export interface LocalStackOptions {
  /** HTTP port on 127.0.0.1 (0 picks a free one). */
  port: number;
  /** Where DynamoDB Local's data and the generated keys live. */
  dataDir: string;
  configPath: string;
  /** THREADBOUND_LOCAL_KEYS: `<key>:<tenant>[:admin],…`. */
  localKeys?: string;
  /** Use a DynamoDB endpoint that is already running instead of starting DynamoDB Local (tests share one). */
  dynamoEndpoint?: string;
  tableName?: string;
  onError?: (error: unknown) => void;
  onExecutionError?: (execution: LocalExecution) => void;
  /** How often stale leases and stranded queues are recovered (1 minute on AWS; faster locally). */
  recoveryIntervalMs?: number;
  /** How often the idle sweep runs (default: threadManagement.cleanupSchedule when it is a rate). */
  cleanupIntervalMs?: number;
  /** How often the rotation schedules are checked (default 1 minute; each secret rotates on its own schedule). */
  rotationCheckIntervalMs?: number;
}

/** A running local stack. */
export interface LocalStack {
  url: string;
  keys: LocalKey[];
  keysGenerated: boolean;
  tableName: string;
  dynamoEndpoint: string;
  stepFunctions: LocalStepFunctions;
  secretsManager: LocalSecretsManager;
  stop(): Promise<void>;
}

/** Where a running local stack says how to reach it (the CLI reads it): `<dataDir>/local.json`. */
export const LOCAL_ENDPOINTS_FILE = 'local.json';

/**
 * Starts the backend on this machine: DynamoDB Local (persisted in the data dir), the table from
 * the shared definition, the API keys, and the HTTP API invoking the very handlers CDK deploys.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const configPath = resolve(options.configPath);
  const config = loadConfig(configPath); // fail fast, before starting anything, on a bad config
  const dataDir = resolve(options.dataDir);
  const tableName = options.tableName ?? 'threadbound';
  const keys = localKeys(dataDir, options.localKeys); // a bad THREADBOUND_LOCAL_KEYS also fails before anything starts

  let dynamo: DynamoDbLocal | undefined;
  let server: Server | undefined;
  let stepFunctions: LocalStepFunctions | undefined;
  let secretsManager: LocalSecretsManager | undefined;
  const timers: NodeJS.Timeout[] = [];
  const endpointsFile = join(dataDir, LOCAL_ENDPOINTS_FILE);
  const stop = async () => {
    for (const timer of timers) clearInterval(timer);
    rmSync(endpointsFile, { force: true });
    if (server)
      await new Promise<void>((done) => {
        server!.close(() => done());
        server!.closeAllConnections();
      });
    await stepFunctions?.stop();
    await secretsManager?.stop();
    await dynamo?.stop();
  };

  try {
    if (!options.dynamoEndpoint) dynamo = await startDynamoDbLocal({ dbPath: join(dataDir, 'dynamodb') });
    const endpoint = options.dynamoEndpoint ?? dynamo!.endpoint;
    // The turn workflow: the very ASL file CDK deploys, invoking the same handlers in-process.
    const localFunctions = new Map<string, LocalFunction>();
    stepFunctions = await startLocalStepFunctions({
      definition: renderTurnDefinition({
        AgentFunctionPrefix: LOCAL_AGENT_FUNCTION_PREFIX,
        TurnControlFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${LOCAL_TURN_CONTROL}`,
      }),
      stateMachineName: `${tableName}-turn`,
      functions: (name) => localFunctions.get(name.split(':function:').pop()!),
      onExecutionError: options.onExecutionError,
    });
    // Secrets Manager's JSON protocol on loopback, persisted in the data dir beside DynamoDB's data.
    // Its rotations invoke the rotation handler's four steps, as Secrets Manager invokes the Lambda.
    let rotationHandler: LocalFunction | undefined;
    secretsManager = await startLocalSecretsManager({
      dataFile: join(dataDir, 'secrets-manager.json'),
      rotationFunction: (arn) => (arn === LOCAL_ROTATION_FUNCTION_ARN ? rotationHandler : undefined),
    });
    // The handlers build their SDK clients from the environment, exactly as in Lambda. Local
    // credentials are fixed so a developer's real AWS credentials are never sent anywhere.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_SFN: stepFunctions.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
      ROTATION_FUNCTION_ARN: LOCAL_ROTATION_FUNCTION_ARN,
      STATE_MACHINE_ARN: stepFunctions.stateMachineArn,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      TABLE_NAME: tableName,
      THREADBOUND_CONFIG: configPath,
      POWERTOOLS_SERVICE_NAME: 'threadbound',
    });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;

    const admin = new DynamoDBClient({});
    try {
      await ensureTable(admin, tableName);
    } finally {
      admin.destroy();
    }
    const documentClient = createDocumentClient();
    try {
      await registerKeys(new DynamoApiKeyStore(documentClient, tableName), keys.keys);
    } finally {
      documentClient.destroy();
    }

    // Every handler below runs in its own invocation scope, as on Lambda (infra/local/invocations.ts).
    enableConcurrentInvocations();
    const handlers: Record<string, never> = {};
    for (const route of ROUTES) {
      const module = (await import(pathToFileURL(join(FUNCTIONS_DIR, 'api', `${route.handler}.ts`)).href)) as {
        handler: LocalFunction;
      };
      handlers[route.handler] = localInvocation(`threadbound-${route.handler}`, module.handler) as never;
    }
    const authorizer = (await import(pathToFileURL(join(FUNCTIONS_DIR, 'authorizer', 'handler.ts')).href)) as {
      handler: LocalFunction;
    };
    const { agentHandler } = (await import(pathToFileURL(join(FUNCTIONS_DIR, 'agents', 'agent.ts')).href)) as {
      agentHandler: (name: string) => LocalFunction;
    };
    for (const agent of Object.keys(config.agents))
      localFunctions.set(
        `${LOCAL_AGENT_FUNCTION_PREFIX}${agent}`,
        localInvocation(`${LOCAL_AGENT_FUNCTION_PREFIX}${agent}`, agentHandler(agent)),
      );
    const turnControl = (await import(pathToFileURL(join(FUNCTIONS_DIR, 'workflow', 'turn-control.ts')).href)) as {
      handler: LocalFunction;
    };
    localFunctions.set(LOCAL_TURN_CONTROL, localInvocation(LOCAL_TURN_CONTROL, turnControl.handler));
    rotationHandler = localInvocation(
      'threadbound-rotation',
      ((await import(pathToFileURL(join(FUNCTIONS_DIR, 'rotation', 'handler.ts')).href)) as { handler: LocalFunction })
        .handler,
    );

    // The schedules of the cloud stack, as timers invoking the same handlers: reconciliation once at
    // start (the CDK Trigger after a deploy), stuck-turn recovery, and the idle sweep.
    const maintenance = async (name: string) => {
      const { handler } = (await import(pathToFileURL(join(FUNCTIONS_DIR, 'maintenance', `${name}.ts`)).href)) as {
        handler: LocalFunction;
      };
      const invoke = localInvocation(`threadbound-${name}`, handler);
      return () => invoke({});
    };
    // One run of a job at a time: a tick that finds the previous run still going is skipped.
    const guarded = (job: () => Promise<unknown>) => {
      let running = false;
      return async () => {
        if (running) return;
        running = true;
        try {
          await job();
        } catch (error) {
          options.onError?.(error);
        } finally {
          running = false;
        }
      };
    };
    if (config.threadManagement.startupReconciliation) await guarded(await maintenance('reconcile'))();
    const recover = guarded(await maintenance('recover-turns'));
    await recover();
    const sweep = guarded(await maintenance('idle-sweep'));
    timers.push(setInterval(recover, options.recoveryIntervalMs ?? 5_000));
    timers.push(
      setInterval(
        sweep,
        options.cleanupIntervalMs ??
          rateIntervalMs(config.threadManagement.cleanupSchedule) ??
          DEFAULT_LOCAL_CLEANUP_MS,
      ),
    );
    // The rotation schedules CDK attaches to each rotating secret, checked on a timer.
    const { secretAdmin } = (await import(
      pathToFileURL(join(FUNCTIONS_DIR, 'shared', 'deps', 'secret-admin.ts')).href
    )) as typeof import('../../functions/shared/deps/secret-admin.js');
    const { secretsManager: secretsClient } = (await import(
      pathToFileURL(join(FUNCTIONS_DIR, 'shared', 'deps', 'secrets-manager.ts')).href
    )) as typeof import('../../functions/shared/deps/secrets-manager.js');
    await ensureGeneratedSecrets(config, secretsClient);
    const rotateDue = guarded(rotationTick(config, secretsClient, (name) => secretAdmin.rotate(name), new Date()));
    timers.push(setInterval(rotateDue, options.rotationCheckIntervalMs ?? 60_000));
    for (const timer of timers) timer.unref();

    server = createApiServer({
      routes: ROUTES,
      handlers,
      authorizer: localInvocation('threadbound-authorizer', authorizer.handler) as never,
      onError: options.onError,
    });
    const port = await new Promise<number>((done, fail) => {
      server!.once('error', fail);
      server!.listen(options.port, '127.0.0.1', () => {
        const address = server!.address();
        done(typeof address === 'object' && address ? address.port : options.port);
      });
    });
    const url = `http://127.0.0.1:${port}`;
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(
      endpointsFile,
      `${JSON.stringify({ url, secretsManagerEndpoint: secretsManager.endpoint }, null, 2)}\n`,
    );
    return {
      url,
      keys: keys.keys,
      keysGenerated: keys.generated,
      tableName,
      dynamoEndpoint: endpoint,
      stepFunctions,
      secretsManager,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
