import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  agentFunctionTimeoutSeconds,
  loadTurnDefinition,
  TurnWorkflow,
  turnWorkflowNames,
} from '../../infra/constructs/turn-workflow.js';
import { type LocalFunction, startLocalStepFunctions } from '../../infra/local/step-functions.js';
import { loadConfig } from '../../lib/config/load.js';
import { WORKFLOW_RETRIED_ERRORS } from '../../lib/turns/trace.js';
import {
  renderTurnDefinition,
  TURN_WORKFLOW_FILE,
  type TurnWorkflowSubstitutions,
} from '../../lib/workflows/turn-workflow.js';

// The turn workflow without a synth: the ASL file against asl-validator, and the names and
// timeouts the construct derives. (The synthesized state machine is asserted in stack.test.ts.)

interface AslValidationResult {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
// asl-validator 3 is CommonJS (module.exports = validator) and ships no type declarations.
const aslValidator = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => AslValidationResult;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_PATH = join(ROOT, 'threadbound.config.json');

/** The values CloudFormation substitutes in a deployment of the stack `Threadbound`. */
const REALISTIC: TurnWorkflowSubstitutions = {
  AgentFunctionPrefix: turnWorkflowNames('Threadbound', []).agentFunctionPrefix,
  TurnControlFunctionArn:
    'arn:aws:lambda:eu-west-1:123456789012:function:Threadbound-TurnWorkflowTurnControlFunctionFC73-AbCdEf123456',
};

/** The ASL file with its placeholders filled the way CloudFormation's DefinitionSubstitutions fills them. */
function substituted(values: TurnWorkflowSubstitutions): unknown {
  const text = readFileSync(TURN_WORKFLOW_FILE, 'utf8').replace(/\$\{(\w+)\}/g, (whole, name: string) =>
    name in values ? values[name as keyof TurnWorkflowSubstitutions] : whole,
  );
  expect(text).not.toMatch(/\$\{\w+\}/);
  return JSON.parse(text);
}

describe('lib/workflows/turn.asl.json', () => {
  it('is a valid Amazon States Language definition once its placeholders are substituted', () => {
    const result = aslValidator(substituted(REALISTIC));
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('is checked for real: a dangling transition is rejected', () => {
    const definition = substituted(REALISTIC) as { States: Record<string, { Next?: string }> };
    definition.States.PlanOrReply!.Next = 'NoSuchState';
    definition.States.DirectReply!.Next = 'NoSuchState';
    expect(aslValidator(definition).isValid).toBe(false);
  });

  it('has exactly the placeholders the stack substitutes', () => {
    expect(() => loadTurnDefinition(REALISTIC as unknown as Record<string, string>)).not.toThrow();
    expect(JSON.parse(loadTurnDefinition(REALISTIC as unknown as Record<string, string>))).toEqual(
      JSON.parse(readFileSync(TURN_WORKFLOW_FILE, 'utf8')),
    );
    expect(() => loadTurnDefinition({ AgentFunctionPrefix: 'x-' })).toThrow(
      /without a substitution \[TurnControlFunctionArn\]/,
    );
    expect(() => loadTurnDefinition({ ...REALISTIC, Extra: 'y' })).toThrow(/without a placeholder \[Extra\]/);
  });
});

describe('what the turn workflow passes to Complete', () => {
  /** Runs one execution of the real ASL with stub Lambdas; returns its status and what Complete got. */
  async function run(
    functions: Record<string, LocalFunction>,
  ): Promise<{ status: string; error?: string; completed: any[] }> {
    const completed: unknown[] = [];
    const sfn = await startLocalStepFunctions({
      definition: renderTurnDefinition({
        AgentFunctionPrefix: 'agent-',
        TurnControlFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:control',
      }),
      stateMachineName: 'paths',
      functions: (name) => {
        const short = name.split(':function:').pop()!;
        if (short === 'control')
          return async (payload) => {
            completed.push(payload);
            return { result: 'finished' };
          };
        return functions[short];
      },
    });
    try {
      const turn = {
        tenant: 't',
        sessionKey: 's',
        turnId: 'turn_1',
        agent: 'lead',
        fencingToken: 1,
        timeoutSeconds: 10,
        maxChildren: 2,
      };
      const started = await fetch(sfn.endpoint, {
        method: 'POST',
        headers: { 'x-amz-target': 'AWSStepFunctions.StartExecution' },
        body: JSON.stringify({ stateMachineArn: sfn.stateMachineArn, name: 'e1', input: JSON.stringify({ turn }) }),
      });
      expect(started.status).toBe(200);
      await sfn.idle();
      const execution = sfn.executions.get('e1')!;
      return { status: execution.status, ...(execution.error ? { error: execution.error } : {}), completed };
    } finally {
      await sfn.stop();
    }
  }

  it('a direct reply without a trace (say, older Lambda code mid-deploy) still completes: no required trace path', async () => {
    const result = await run({ 'agent-lead': async () => ({ kind: 'reply', reply: 'hi' }) });
    expect(result).toMatchObject({ status: 'SUCCEEDED' });
    expect(result.completed).toEqual([
      { action: 'complete', turn: expect.any(Object), final: { value: { kind: 'reply', reply: 'hi' } } },
    ]);
  });

  it('a merge without a trace still completes, with only turn and final left in the state', async () => {
    const result = await run({
      'agent-lead': async (payload: any) =>
        payload.phase === 'main'
          ? {
              kind: 'plan',
              plan: [{ agent: 'alpha', task: 'x', sessionKey: 's:alpha', timeoutSeconds: 5 }],
              coalesceWith: 'lead',
              coalesceTimeoutSeconds: 5,
            }
          : { reply: 'merged', subAgents: payload.results },
      'agent-alpha': async () => ({ agent: 'alpha', sessionKey: 's:alpha', status: 'succeeded', reply: 'a' }),
    });
    expect(result).toMatchObject({ status: 'SUCCEEDED' });
    expect(result.completed).toEqual([
      {
        action: 'complete',
        turn: expect.any(Object),
        final: {
          value: {
            reply: 'merged',
            subAgents: [{ agent: 'alpha', sessionKey: 's:alpha', status: 'succeeded', reply: 'a' }],
          },
        },
      },
    ]);
  });

  it('the agent states retry exactly the Lambda service errors and WORKFLOW_RETRIED_ERRORS (keepTrace skips these)', () => {
    const states = (substituted(REALISTIC) as { States: Record<string, any> }).States;
    for (const state of [states.MainAgent, states.FanOut.ItemProcessor.States.SubAgent, states.Coalesce]) {
      const names: string[] = state.Retry.flatMap((retry: { ErrorEquals: string[] }) => retry.ErrorEquals);
      expect(names.filter((name) => !name.startsWith('Lambda.')).sort()).toEqual([...WORKFLOW_RETRIED_ERRORS].sort());
    }
  });
});

describe('turn workflow names and timeouts', () => {
  it('names every agent Lambda <stack>-agent-<agent> and the state machine <stack>-turn', () => {
    const names = turnWorkflowNames('Threadbound', ['main', 'data']);
    expect(names.agentFunctionPrefix).toBe('Threadbound-agent-');
    expect([...names.agentFunctionNames]).toEqual([
      ['main', 'Threadbound-agent-main'],
      ['data', 'Threadbound-agent-data'],
    ]);
    expect(names.stateMachineName).toBe('Threadbound-turn');
  });

  it('fails synth with a clear error when an agent Lambda name would exceed 64 characters', () => {
    const longestAgent = 'a'.repeat(40); // NAME_PATTERN's limit
    expect(() => turnWorkflowNames('Threadbound', [longestAgent])).not.toThrow();
    expect(() => turnWorkflowNames('x'.repeat(20), [longestAgent])).toThrow(
      /agent "a{40}": its Lambda name .* has 67 characters, more than Lambda's 64/,
    );
  });

  it('fails in the construct, before anything is bundled, for a stack name that is too long', () => {
    const app = new App();
    const stack = new Stack(app, 'LongName', { stackName: `threadbound-${'x'.repeat(50)}` });
    const table = new dynamodb.Table(stack, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    });
    expect(
      () =>
        new TurnWorkflow(stack, 'TurnWorkflow', { table, config: loadConfig(CONFIG_PATH), configPath: CONFIG_PATH }),
    ).toThrow(/more than Lambda's 64/);
  });

  it('gives each agent Lambda its agent timeout plus a 10 s margin, at most 900 s', () => {
    expect(agentFunctionTimeoutSeconds({ timeout: '120s' })).toBe(130);
    expect(agentFunctionTimeoutSeconds({ timeout: '2m' })).toBe(130);
    expect(agentFunctionTimeoutSeconds({ timeout: '1500ms' })).toBe(12);
    expect(agentFunctionTimeoutSeconds({ timeout: '895s' })).toBe(900);
    expect(agentFunctionTimeoutSeconds({ timeout: '15m' })).toBe(900);
  });
});
