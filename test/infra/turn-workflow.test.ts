import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.js';
import { TURN_WORKFLOW_FILE, type TurnWorkflowSubstitutions } from '../../lib/workflows/turn-workflow.js';
import { agentFunctionTimeoutSeconds, loadTurnDefinition, TurnWorkflow, turnWorkflowNames } from '../../infra/constructs/turn-workflow.js';

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
  TurnControlFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:Threadbound-TurnWorkflowTurnControlFunctionFC73-AbCdEf123456',
};

/** The ASL file with its placeholders filled the way CloudFormation's DefinitionSubstitutions fills them. */
function substituted(values: TurnWorkflowSubstitutions): unknown {
  const text = readFileSync(TURN_WORKFLOW_FILE, 'utf8').replace(/\$\{(\w+)\}/g, (whole, name: string) => (name in values ? values[name as keyof TurnWorkflowSubstitutions] : whole));
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
    expect(JSON.parse(loadTurnDefinition(REALISTIC as unknown as Record<string, string>))).toEqual(JSON.parse(readFileSync(TURN_WORKFLOW_FILE, 'utf8')));
    expect(() => loadTurnDefinition({ AgentFunctionPrefix: 'x-' })).toThrow(/without a substitution \[TurnControlFunctionArn\]/);
    expect(() => loadTurnDefinition({ ...REALISTIC, Extra: 'y' })).toThrow(/without a placeholder \[Extra\]/);
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
    expect(() => turnWorkflowNames('x'.repeat(20), [longestAgent])).toThrow(/agent "a{40}": its Lambda name .* has 67 characters, more than Lambda's 64/);
  });

  it('fails in the construct, before anything is bundled, for a stack name that is too long', () => {
    const app = new App();
    const stack = new Stack(app, 'LongName', { stackName: `threadbound-${'x'.repeat(50)}` });
    const table = new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
    expect(() => new TurnWorkflow(stack, 'TurnWorkflow', { table, config: loadConfig(CONFIG_PATH), configPath: CONFIG_PATH })).toThrow(/more than Lambda's 64/);
  });

  it('gives each agent Lambda its agent timeout plus a 10 s margin, at most 900 s', () => {
    expect(agentFunctionTimeoutSeconds({ timeout: '120s' })).toBe(130);
    expect(agentFunctionTimeoutSeconds({ timeout: '2m' })).toBe(130);
    expect(agentFunctionTimeoutSeconds({ timeout: '1500ms' })).toBe(12);
    expect(agentFunctionTimeoutSeconds({ timeout: '895s' })).toBe(900);
    expect(agentFunctionTimeoutSeconds({ timeout: '15m' })).toBe(900);
  });
});
