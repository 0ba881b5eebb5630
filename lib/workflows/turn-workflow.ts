import { readFileSync } from 'node:fs';

/** The ASL file of the turn workflow: CDK deploys it, the local stack runs it, unchanged. */
export const TURN_WORKFLOW_FILE = new URL('./turn.asl.json', import.meta.url);

/** The `${…}` placeholders of the definition, filled by CDK's definitionSubstitutions or the local stack. */
export interface TurnWorkflowSubstitutions {
  /** Agent Lambdas are named `<prefix><agent>`, so a Task can address the agent a plan names. */
  AgentFunctionPrefix: string;
  TurnControlFunctionArn: string;
}

/** The parts of a turn every state of the workflow needs (the execution input is `{turn}`). */
export interface TurnRef {
  tenant: string;
  sessionKey: string;
  turnId: string;
  agent: string;
  /** The fencing token of the lease the turn was started under: stale writers are refused. */
  fencingToken: number;
  timeoutSeconds: number;
  maxChildren: number;
}

/** Starts turn executions. Starting the same name twice starts one execution. */
export interface WorkflowStarter {
  start(executionName: string, input: { turn: TurnRef }): Promise<void>;
}

/** The definition with its placeholders filled in; throws if one is left. */
export function renderTurnDefinition(substitutions: TurnWorkflowSubstitutions): string {
  const text = readFileSync(TURN_WORKFLOW_FILE, 'utf8').replace(/\$\{(\w+)\}/g, (whole, name: string) =>
    name in substitutions ? substitutions[name as keyof TurnWorkflowSubstitutions] : whole,
  );
  const left = /\$\{\w+\}/.exec(text);
  if (left) throw new Error(`turn workflow placeholder ${left[0]} has no value`);
  return text;
}

/** The message inside a Step Functions error Cause: a Lambda error's JSON, or plain text. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return 'no cause given';
  try {
    return (JSON.parse(cause) as { errorMessage?: string }).errorMessage ?? cause;
  } catch {
    return cause;
  }
}
