import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';
import { lambdaContext } from './api-gateway.js';

/**
 * Lambda runs one invocation per instance at a time, so Powertools may keep an invocation's log
 * keys, Lambda context and stored metrics on the logger and metrics objects. The local stack runs
 * every function in one process, with invocations interleaving (requests, workflow steps, sub-agents
 * in parallel, schedules). It therefore runs like an instance of Lambda Managed Instances, where one
 * instance serves several invocations at once: AWS_LAMBDA_MAX_CONCURRENCY set and the InvokeStore
 * (AsyncLocalStorage) in place, so Powertools keeps that state per invocation and a log line never
 * carries another invocation's keys.
 */
const MAX_CONCURRENCY = '256';

/**
 * Where a local invocation's deadline lies when its caller gives none (workflow steps, schedules,
 * rotation): Lambda's longest timeout, so the workflow's own task timeouts fire first, as on AWS.
 */
const WORKER_TIMEOUT_MS = 900_000;

type InvocationState = Record<string | symbol, unknown>;

/** The runtime's key of the request id in an invocation's state (@aws/lambda-invoke-store's PROTECTED_KEYS). */
const REQUEST_ID = Symbol.for('_AWS_LAMBDA_REQUEST_ID');
const X_RAY_TRACE_ID = Symbol.for('_AWS_LAMBDA_X_RAY_TRACE_ID');

/**
 * The InvokeStore Lambda's runtime provides where invocations run concurrently: their state kept per
 * asynchronous call chain. Installed by the stack rather than taken from InvokeStore.getInstanceAsync:
 * that returns whichever store the first caller made, and the AWS SDK asks for one (without
 * concurrency) on its first request, which in a test process may come before the stack starts.
 */
class LocalInvokeStore {
  private readonly storage = new AsyncLocalStorage<InvocationState>();

  getRequestId(): string {
    return this.get<string>(REQUEST_ID) ?? '-';
  }
  getXRayTraceId(): string | undefined {
    return this.get<string>(X_RAY_TRACE_ID);
  }

  getContext(): InvocationState | undefined {
    return this.storage.getStore();
  }
  hasContext(): boolean {
    return this.storage.getStore() !== undefined;
  }
  get<T = unknown>(key: string | symbol): T | undefined {
    return this.storage.getStore()?.[key] as T | undefined;
  }
  set<T = unknown>(key: string | symbol, value: T): void {
    if (key === REQUEST_ID || key === X_RAY_TRACE_ID)
      throw new Error(`Cannot modify protected Lambda context field: ${String(key)}`);
    const state = this.storage.getStore();
    if (!state) throw new Error('no invocation is running');
    state[key] = value;
  }
  run<T>(context: InvocationState, fn: () => T): T {
    return this.storage.run(context, fn);
  }
}

let store: LocalInvokeStore | undefined;

/**
 * Prepares per-invocation state before any handler module is loaded: Powertools decides on every
 * access, and fails when the variable is set without an InvokeStore. Tracing stays off (no X-Ray
 * daemon here; Powertools also turns it off outside Lambda by itself).
 */
export function enableConcurrentInvocations(): void {
  store ??= new LocalInvokeStore();
  const global = globalThis as { awslambda?: { InvokeStore?: unknown } };
  global.awslambda ??= {};
  const lambdaGlobal = global.awslambda;
  lambdaGlobal.InvokeStore = store;
  process.env.AWS_LAMBDA_MAX_CONCURRENCY ??= MAX_CONCURRENCY;
  process.env.POWERTOOLS_TRACE_ENABLED = 'false';
}

/**
 * A handler as the local stack invokes it: each call in its own invocation scope (its request id,
 * as Lambda's runtime does) with a Lambda context named `functionName` when the caller has none.
 */
export function localInvocation<E, R>(
  functionName: string,
  handler: (event: E, context: Context) => Promise<R>,
): (event: E, context?: Context) => Promise<R> {
  return (event, context) => {
    const invocationContext = context ?? lambdaContext(functionName, WORKER_TIMEOUT_MS);
    if (!store) return handler(event, invocationContext);
    return store.run({ [REQUEST_ID]: invocationContext.awsRequestId }, () => handler(event, invocationContext));
  };
}
