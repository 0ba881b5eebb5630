import { AsyncLocalStorage } from 'node:async_hooks';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StateMachine } from 'aws-local-stepfunctions';
import { PROJECT_ROOT } from '../infra/constructs/project-paths.js';
import type { Meter } from './meter.js';

/**
 * Counting hooks on the local stack running in this process, added from outside (no production
 * code changes): SDK middlewares on the handlers' own DynamoDB and Secrets Manager clients, and a
 * wrapper around aws-local-stepfunctions' `StateMachine#run` that counts state transitions and
 * times each Task's function invocation.
 */

/** Which part of a turn a request belongs to: the workflow's async context is tagged, API calls are sequenced by the bench. */
const workflowContext = new AsyncLocalStorage<{ fn?: string }>();

/** The API phase the bench is in (set around its own sequential requests; concurrent runs leave it `api`). */
export const apiPhase = { current: 'api' };

const READS = new Set([
  'GetItemCommand',
  'QueryCommand',
  'ScanCommand',
  'BatchGetItemCommand',
  'TransactGetItemsCommand',
]);
const WRITES = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

interface Capacity {
  CapacityUnits?: number;
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

/** The partition key a single-item command addresses (marshalled or not), for attributing API-key and ledger requests. */
function partitionKey(input: Record<string, any>): string {
  const pk = input.Key?.pk;
  return typeof pk === 'string' ? pk : typeof pk?.S === 'string' ? pk.S : '';
}

/** Adds the counting middlewares to the handlers' clients (functions/shared/deps/, the modules the local stack loaded). */
export async function instrumentClients(meter: Meter): Promise<void> {
  const context = {
    ...((await import(
      pathToFileURL(join(PROJECT_ROOT, 'functions/shared/deps/document-client.ts')).href
    )) as typeof import('../functions/shared/deps/document-client.js')),
    ...((await import(
      pathToFileURL(join(PROJECT_ROOT, 'functions/shared/deps/secrets-manager.ts')).href
    )) as typeof import('../functions/shared/deps/secrets-manager.js')),
  };
  context.documentClient.middlewareStack.add(
    (next, ctx) => async (args) => {
      const command = ctx.commandName ?? '?';
      const input = args.input as Record<string, any>;
      const pk = partitionKey(input);
      const inWorkflow = workflowContext.getStore();
      const phase = inWorkflow ? 'workflow' : pk.startsWith('APIKEY#') ? 'authorizer' : apiPhase.current;
      meter.add(`ddb.${phase}.${command}`);
      if (pk.startsWith('SECRET#')) meter.add(`ledger.${command}`);
      // Request units as DynamoDB computes them (item sizes, transactions doubled, index writes included).
      if (READS.has(command) || WRITES.has(command)) input.ReturnConsumedCapacity ??= 'INDEXES';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: Capacity | Capacity[] }).ConsumedCapacity;
      for (const capacity of consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed]) {
        const kind = READS.has(command) ? 'rru' : 'wru';
        meter.add(`${kind}.${phase}`, capacity.CapacityUnits ?? 0);
        for (const index of Object.values(capacity.GlobalSecondaryIndexes ?? {}))
          meter.add(`${kind}Index.${phase}`, index.CapacityUnits ?? 0);
      }
      return result;
    },
    { step: 'initialize', name: 'benchDynamoMeter' },
  );
  context.secretsManager.middlewareStack.add(
    (next, ctx) => async (args) => {
      meter.add(`secrets.${(ctx.commandName ?? '?').replace(/Command$/, '')}`);
      return next(args);
    },
    { step: 'initialize', name: 'benchSecretsMeter' },
  );
}

type Run = StateMachine['run'];
type LocalHandler = (parameters: unknown) => Promise<unknown>;

/** The function a Task invokes: `agent` for every agent Lambda, `turn-control` for the control Lambda. */
function functionKind(parameters: unknown): string {
  const name = String((parameters as { FunctionName?: string }).FunctionName ?? '?')
    .split(':function:')
    .pop()!;
  return name.startsWith('threadbound-agent-') ? 'agent' : name.replace(/^threadbound-/, '');
}

/**
 * Wraps `StateMachine#run` of the aws-local-stepfunctions instance the local stack uses (the same
 * module): every root execution runs in the workflow context, each Task invocation is timed as a
 * Lambda invocation, and every StateEntered event (Map iterations' states included, as Step
 * Functions bills them) counts one transition. Nested runs (Map iterations) pass through untouched.
 */
export function instrumentWorkflow(meter: Meter): () => void {
  const original = StateMachine.prototype.run;
  const wrapped: Run = function (this: StateMachine, input, options) {
    if ((options as { _rootAbortSignal?: unknown } | undefined)?._rootAbortSignal)
      return original.call(this, input, options);
    const handlers = (options?.overrides?.taskResourceLocalHandlers ?? {}) as Record<string, LocalHandler>;
    const timed = Object.fromEntries(
      Object.entries(handlers).map(([state, handler]) => [
        state,
        async (parameters: unknown) => {
          const fn = functionKind(parameters);
          const started = performance.now();
          try {
            return await workflowContext.run({ fn }, () => handler(parameters));
          } finally {
            const ms = performance.now() - started;
            meter.add(`lambda.${fn}.invocations`);
            meter.add(`lambda.${fn}.ms`, ms);
            // Lambda bills each invocation rounded up to the next millisecond.
            meter.add(`lambda.${fn}.billedMs`, Math.ceil(ms));
          }
        },
      ]),
    );
    const execution = workflowContext.run({}, () =>
      original.call(this, input, {
        ...options,
        overrides: { ...options?.overrides, taskResourceLocalHandlers: timed as never },
      }),
    );
    meter.add('sfn.executions');
    void (async () => {
      for await (const event of execution.eventLogs) if (event.type === 'StateEntered') meter.add('sfn.transitions');
    })();
    return execution;
  };
  StateMachine.prototype.run = wrapped;
  return () => {
    StateMachine.prototype.run = original;
  };
}

/** Records one API handler invocation as the client saw it (an upper bound of the Lambda's duration). */
export function recordApiCall(meter: Meter, handler: string, ms: number): void {
  meter.add(`api.requests`);
  meter.add(`lambda.${handler}.invocations`);
  meter.add(`lambda.${handler}.ms`, ms);
  meter.add(`lambda.${handler}.billedMs`, Math.ceil(ms));
}
