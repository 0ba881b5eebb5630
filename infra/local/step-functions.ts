import './polyfills.js';
import { createServer, type Server } from 'node:http';
import { StateMachine } from 'aws-local-stepfunctions';

/** A function the local workflow can invoke, like a Lambda: payload in, result out. */
export type LocalFunction = (payload: unknown) => Promise<unknown>;

/** What the local endpoint knows of one execution (a subset of DescribeExecution). */
export interface LocalExecution {
  executionArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startDate: Date;
  stopDate?: Date;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
}

/** A running local Step Functions endpoint. */
export interface LocalStepFunctions {
  endpoint: string;
  stateMachineArn: string;
  executions: Map<string, LocalExecution>;
  /** Resolves when no execution is running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

type States = Record<string, Record<string, unknown>>;

/** Every Task state of a definition, nested ones (Map, Parallel) included, as [name, state]. */
function taskStates(states: States): [string, Record<string, unknown>][] {
  return Object.entries(states).flatMap(([name, state]) => {
    const nested = [state.ItemProcessor, state.Iterator, ...((state.Branches as unknown[]) ?? [])] as (
      | { States?: States }
      | undefined
    )[];
    return [
      ...(state.Type === 'Task' ? [[name, state] as [string, Record<string, unknown>]] : []),
      ...nested.flatMap((n) => (n?.States ? taskStates(n.States) : [])),
    ];
  });
}

/** Hidden parameter carrying a Task's timeout (see emulateTimeoutPaths). */
const TIMEOUT_PARAMETER = 'localTimeoutSeconds';

/**
 * AWS resolves a Task's TimeoutSecondsPath against the state input; aws-local-stepfunctions
 * resolves it against the input after Parameters. To run the unchanged ASL with AWS's semantics,
 * the path is evaluated by Parameters into a hidden field the engine reads and the invoker strips.
 */
function emulateTimeoutPaths(states: States): void {
  for (const [, state] of taskStates(states)) {
    if (typeof state.TimeoutSecondsPath === 'string' && state.Parameters && typeof state.Parameters === 'object') {
      (state.Parameters as Record<string, unknown>)[`${TIMEOUT_PARAMETER}.$`] = state.TimeoutSecondsPath;
      state.TimeoutSecondsPath = `$.${TIMEOUT_PARAMETER}`;
    }
  }
}

/**
 * A loopback endpoint speaking the Step Functions JSON protocol (StartExecution,
 * DescribeExecution) that runs the given ASL definition with aws-local-stepfunctions. Task states
 * using `arn:aws:states:::lambda:invoke` call the local functions by FunctionName and get Lambda's
 * result and error shapes, so the workflow behaves as it does on AWS.
 */
export async function startLocalStepFunctions(options: {
  definition: string;
  stateMachineName: string;
  functions: (name: string) => LocalFunction | undefined;
  onExecutionError?: (execution: LocalExecution) => void;
}): Promise<LocalStepFunctions> {
  const definition = JSON.parse(options.definition) as { States: States };
  emulateTimeoutPaths(definition.States);
  const machine = new StateMachine(definition as never, { validationOptions: { checkPaths: true, checkArn: true } });
  const stateMachineArn = `arn:aws:states:us-east-1:000000000000:stateMachine:${options.stateMachineName}`;
  const executions = new Map<string, LocalExecution>();
  const running = new Set<Promise<unknown>>();

  const invoke = async (parameters: unknown) => {
    const { FunctionName, Payload } = parameters as { FunctionName: string; Payload: unknown }; // drops the hidden timeout field
    const fn = options.functions(FunctionName);
    if (!fn)
      throw Object.assign(new Error(JSON.stringify({ errorMessage: `Function not found: ${FunctionName}` })), {
        name: 'Lambda.ResourceNotFoundException',
      });
    try {
      // Lambda round-trips payloads through JSON; so does this.
      const result = await fn(JSON.parse(JSON.stringify(Payload ?? null)));
      return {
        ExecutedVersion: '$LATEST',
        StatusCode: 200,
        Payload: result === undefined ? null : JSON.parse(JSON.stringify(result)),
      };
    } catch (error) {
      const err = error as Error;
      // As a Lambda function error reaches Step Functions: Error = errorType, Cause = Lambda's JSON.
      throw Object.assign(new Error(JSON.stringify({ errorMessage: err.message, errorType: err.name })), {
        name: err.name || 'Error',
      });
    }
  };
  const overrides = Object.fromEntries(taskStates(definition.States).map(([name]) => [name, invoke]));

  const startExecution = (name: string, input: string): LocalExecution => {
    const execution: LocalExecution = {
      executionArn: `arn:aws:states:us-east-1:000000000000:execution:${options.stateMachineName}:${name}`,
      name,
      status: 'RUNNING',
      startDate: new Date(),
      input,
    };
    executions.set(name, execution);
    const run = machine.run(JSON.parse(input), {
      overrides: { taskResourceLocalHandlers: overrides },
      context: {
        Execution: {
          Id: execution.executionArn,
          Name: name,
          Input: JSON.parse(input),
          StartTime: execution.startDate.toISOString(),
        },
      },
    });
    const done = run.result.then(
      (output) =>
        Object.assign(execution, { status: 'SUCCEEDED', output: JSON.stringify(output), stopDate: new Date() }),
      (error: Error & { cause?: unknown }) => {
        Object.assign(execution, {
          status: 'FAILED',
          error: error.name,
          cause: String(error.cause ?? error.message),
          stopDate: new Date(),
        });
        options.onExecutionError?.(execution);
      },
    );
    running.add(done);
    void done.finally(() => running.delete(done));
    return execution;
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(body));
      };
      const fail = (type: string, message: string) => reply(400, { __type: type, message });
      let body: Record<string, string>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, string>;
      } catch {
        return fail('SerializationException', 'the request body is not JSON');
      }
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^AWSStepFunctions\./, '');
      if (operation === 'StartExecution') {
        if (body.stateMachineArn !== stateMachineArn)
          return fail('StateMachineDoesNotExist', `State Machine Does Not Exist: '${body.stateMachineArn}'`);
        const name = body.name ?? crypto.randomUUID();
        if (executions.has(name))
          return fail('ExecutionAlreadyExists', `Execution Already Exists: '${executions.get(name)!.executionArn}'`);
        const execution = startExecution(name, body.input ?? '{}');
        return reply(200, { executionArn: execution.executionArn, startDate: execution.startDate.getTime() / 1000 });
      }
      if (operation === 'DescribeExecution') {
        const execution = [...executions.values()].find((e) => e.executionArn === body.executionArn);
        if (!execution) return fail('ExecutionDoesNotExist', `Execution Does Not Exist: '${body.executionArn}'`);
        return reply(200, {
          ...execution,
          stateMachineArn,
          startDate: execution.startDate.getTime() / 1000,
          ...(execution.stopDate ? { stopDate: execution.stopDate.getTime() / 1000 } : {}),
        });
      }
      return fail(
        'UnknownOperationException',
        `operation ${operation || '(none)'} is not supported by the local endpoint`,
      );
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  const idle = async () => {
    while (running.size > 0) await Promise.allSettled([...running]);
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stateMachineArn,
    executions,
    idle,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
