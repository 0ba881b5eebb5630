import { readFileSync } from 'node:fs';
import { ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { durationSeconds } from '../../lib/config/duration.js';
import type { AgentConfig, Config } from '../../lib/config/schema.js';
import { TURN_WORKFLOW_FILE, type TurnWorkflowSubstitutions } from '../../lib/workflows/turn-workflow.js';
import { grantModelAccess } from './model-access.js';
import type { TurnStarter } from './route-handlers.js';
import { grantTableAccess } from './table-access.js';
import { ThreadboundFunction } from './threadbound-function.js';

/** Lambda's limit on a function name. */
export const MAX_FUNCTION_NAME_LENGTH = 64;
/** Step Functions' limit on a state machine name. */
export const MAX_STATE_MACHINE_NAME_LENGTH = 80;
/** Lambda's longest timeout. */
export const MAX_LAMBDA_TIMEOUT_SECONDS = 900;
/**
 * An agent Lambda may run this much longer than the agent's configured timeout, so the workflow's
 * own task timeout (TimeoutSecondsPath = the agent timeout) fires first and the turn ends as
 * `timed_out` with a reason rather than as a Lambda crash.
 */
export const AGENT_TIMEOUT_MARGIN_SECONDS = 10;
/** Turn-control does a few DynamoDB writes and may start the next queued turn. */
export const TURN_CONTROL_TIMEOUT = Duration.seconds(30);
/** Retention of the state machine's execution log group. */
export const TURN_WORKFLOW_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * The execution statuses that end a turn's execution without its last step (RecordFailure or
 * Complete) having run: States.Runtime, States.DataLimitExceeded, a StopExecution, the execution's
 * own timeout. SUCCEEDED is left out: a succeeded execution has already finished its turn.
 */
export const EXECUTION_ENDED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;
/**
 * How long EventBridge keeps trying to deliver an execution-ended event to turn-control. Longer
 * than the longest turn lease (3 × the 15-minute Lambda limit + 5 s), after which the recovery
 * schedule has failed the turn anyway; a later delivery is harmless (the finish is fenced) but useless.
 */
export const EXECUTION_ENDED_MAX_EVENT_AGE = Duration.hours(1);
/** EventBridge delivery retries (throttling, service errors) for an execution-ended event, within the age above. */
export const EXECUTION_ENDED_RETRY_ATTEMPTS = 20;
/** Lambda's own retries when turn-control throws on an execution-ended event (asynchronous invocations only). */
export const TURN_CONTROL_ASYNC_RETRY_ATTEMPTS = 2;
/** How long an undeliverable or unprocessable execution-ended event waits in the dead-letter queue: SQS's maximum. */
export const EXECUTION_ENDED_DLQ_RETENTION = Duration.days(14);

/** Timeout of an agent's Lambda: the agent's `timeout` plus a margin, at most 900 s. */
export function agentFunctionTimeoutSeconds(agent: Pick<AgentConfig, 'timeout'>): number {
  return Math.min(durationSeconds(agent.timeout) + AGENT_TIMEOUT_MARGIN_SECONDS, MAX_LAMBDA_TIMEOUT_SECONDS);
}

/** The physical names the workflow depends on, derived from the stack name and checked at synth. */
export interface TurnWorkflowNames {
  /** Every agent Lambda is `<agentFunctionPrefix><agent>`: the ASL's Task states build the name. */
  readonly agentFunctionPrefix: string;
  /** Agent Lambda names by agent name. */
  readonly agentFunctionNames: ReadonlyMap<string, string>;
  /** Explicit, so the ARN is known without referencing the state machine (see TurnWorkflow). */
  readonly stateMachineName: string;
}

/** Derives and validates the workflow's names; throws a synth error naming the culprit if one is too long. */
export function turnWorkflowNames(stackName: string, agentNames: readonly string[]): TurnWorkflowNames {
  if (Token.isUnresolved(stackName))
    throw new Error('the turn workflow needs a concrete stack name: agent Lambdas are named after it');
  const agentFunctionPrefix = `${stackName}-agent-`;
  const agentFunctionNames = new Map<string, string>();
  for (const agent of agentNames) {
    const name = `${agentFunctionPrefix}${agent}`;
    if (name.length > MAX_FUNCTION_NAME_LENGTH) {
      throw new Error(
        `agent "${agent}": its Lambda name "${name}" has ${name.length} characters, more than Lambda's ${MAX_FUNCTION_NAME_LENGTH}; ` +
          `use a shorter stack name (now ${stackName.length} characters) or agent name`,
      );
    }
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw new Error(`agent "${agent}": "${name}" is not a valid Lambda function name`);
    agentFunctionNames.set(agent, name);
  }
  const stateMachineName = `${stackName}-turn`;
  if (stateMachineName.length > MAX_STATE_MACHINE_NAME_LENGTH) {
    throw new Error(
      `state machine name "${stateMachineName}" is longer than ${MAX_STATE_MACHINE_NAME_LENGTH} characters; use a shorter stack name`,
    );
  }
  return { agentFunctionPrefix, agentFunctionNames, stateMachineName };
}

/**
 * The ASL definition exactly as lib/workflows/turn.asl.json holds it (parsed, so a broken file fails
 * synth, and re-serialized without whitespace). Throws unless its `${…}` placeholders are exactly
 * the keys of `substitutions`: a placeholder CloudFormation cannot fill, or a substitution the file
 * no longer uses, is a synth error rather than a broken deployment.
 */
export function loadTurnDefinition(substitutions: Readonly<Record<string, string>>): string {
  const text = readFileSync(TURN_WORKFLOW_FILE, 'utf8');
  const used = new Set([...text.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1]!));
  const given = new Set(Object.keys(substitutions));
  const missing = [...used].filter((name) => !given.has(name));
  const unused = [...given].filter((name) => !used.has(name));
  if (missing.length > 0 || unused.length > 0) {
    throw new Error(
      `turn workflow ${TURN_WORKFLOW_FILE.pathname}: placeholders without a substitution [${missing.join(', ')}], substitutions without a placeholder [${unused.join(', ')}]`,
    );
  }
  return JSON.stringify(JSON.parse(text));
}

/** Props of a {@link TurnWorkflow}. */
export interface TurnWorkflowProps {
  readonly table: dynamodb.Table;
  /** The validated config: one Lambda per entry of `agents`. */
  readonly config: Config;
  /** Absolute path of the config file copied into every bundle. */
  readonly configPath: string;
}

/**
 * The turn workflow: one Lambda per configured agent (functions/agents/agent.ts, AGENT_NAME set,
 * named `<stack>-agent-<agent>`), the turn-control Lambda (functions/workflow/turn-control.ts), a
 * Standard state machine built from lib/workflows/turn.asl.json with definitionSubstitutions,
 * logging ALL events to its own log group and tracing with X-Ray, and the EventBridge rule that
 * hands executions ending FAILED / TIMED_OUT / ABORTED to turn-control (retries, then an encrypted
 * dead-letter queue).
 *
 * No dependency cycle: the definition references turn-control (its ARN) and the agents (by name),
 * while turn-control and the turn-starting route handlers need the state machine's ARN. That ARN is
 * built from the explicit state machine name with Stack.formatArn, not taken from the resource, so
 * nothing that the state machine depends on depends on the state machine.
 */
export class TurnWorkflow extends Construct implements TurnStarter {
  /** Prefix of every agent Lambda's name (the ASL's `${AgentFunctionPrefix}`). */
  readonly agentFunctionPrefix: string;
  /** Agent Lambdas by agent name. */
  readonly agents: ReadonlyMap<string, ThreadboundFunction>;
  /** The Lambda the workflow's Complete and RecordFailure states invoke. */
  readonly turnControl: ThreadboundFunction;
  /** The state machine's explicit name. */
  readonly stateMachineName: string;
  /** The state machine's ARN, formatted from its name (no reference to the resource: see the class comment). */
  readonly stateMachineArn: string;
  /** The Standard state machine. */
  readonly stateMachine: sfn.StateMachine;
  /** Execution history log group of the state machine. */
  readonly logGroup: logs.LogGroup;
  /**
   * EventBridge rule: an execution of this state machine ended FAILED, TIMED_OUT or ABORTED →
   * turn-control (the event unchanged), which fails the turn and frees its thread.
   */
  readonly executionEndedRule: events.Rule;
  /**
   * Dead-letter queue of execution-ended events: those EventBridge could not deliver to turn-control
   * and those turn-control still failed on after Lambda's retries. Each message body is the event.
   */
  readonly executionEndedDeadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: TurnWorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // Names first: a name that is too long must fail before anything is bundled.
    const names = turnWorkflowNames(stack.stackName, Object.keys(props.config.agents));
    this.agentFunctionPrefix = names.agentFunctionPrefix;
    this.stateMachineName = names.stateMachineName;
    this.stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // One function (so one role) per agent: what an agent may do can later differ per agent.
    const agents = new Map<string, ThreadboundFunction>();
    for (const [agentName, agent] of Object.entries(props.config.agents)) {
      const fn = new ThreadboundFunction(this, `Agent-${agentName}`, {
        entry: 'functions/agents/agent.ts',
        functionName: names.agentFunctionNames.get(agentName)!,
        configPath: props.configPath,
        tableName: props.table.tableName,
        description: `threadbound agent ${agentName}`,
        timeout: Duration.seconds(agentFunctionTimeoutSeconds(agent)),
        environment: { AGENT_NAME: agentName },
      });
      grantTableAccess(fn, props.table, 'write');
      grantModelAccess(fn, agent);
      agents.set(agentName, fn);
    }
    this.agents = agents;

    // Encrypted with SSE-SQS (a KMS-encrypted DLQ would need a customer managed key whose policy
    // lets EventBridge use it) and TLS-only. Created before turn-control, whose own asynchronous
    // failures it also collects.
    this.executionEndedDeadLetters = new sqs.Queue(this, 'ExecutionEndedDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: EXECUTION_ENDED_DLQ_RETENTION,
    });

    this.turnControl = new ThreadboundFunction(this, 'TurnControl', {
      entry: 'functions/workflow/turn-control.ts',
      configPath: props.configPath,
      tableName: props.table.tableName,
      description: 'threadbound turn workflow control (complete / fail a turn, start the next queued one)',
      timeout: TURN_CONTROL_TIMEOUT,
      // Only the execution-ended rule invokes turn-control asynchronously (the state machine waits
      // for its answer): an event it still fails on after Lambda's retries lands in the DLQ too, so
      // the queue also counts as turn-control's dead-letter queue (cdk-nag AwsSolutions-SQS3).
      asyncRetryAttempts: TURN_CONTROL_ASYNC_RETRY_ATTEMPTS,
      deadLetterQueue: this.executionEndedDeadLetters,
    });
    grantTableAccess(this.turnControl, props.table, 'write');
    this.allowStartingTurns(this.turnControl);

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: TURN_WORKFLOW_LOG_RETENTION });

    const substitutions = {
      AgentFunctionPrefix: this.agentFunctionPrefix,
      TurnControlFunctionArn: this.turnControl.function.functionArn,
    } satisfies TurnWorkflowSubstitutions;
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(loadTurnDefinition(substitutions)),
      definitionSubstitutions: substitutions,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });

    // Exactly the functions the definition can invoke, by their unqualified ARNs: the Task states
    // name functions without a qualifier, so no `:*` (version/alias) resource is needed.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [...agents.values(), this.turnControl].map((fn) => fn.function.functionArn),
      }),
    );

    // An execution that ends without reaching RecordFailure (States.Runtime, DataLimitExceeded, a
    // stop, the execution timeout) would leave its turn running and its thread leased until the
    // lease expires. Step Functions sends Standard executions' status changes to the default bus
    // without any configuration (best effort: TurnRecovery is the backstop). Turn-control gets the
    // event as it is and fails the turn (fenced: a turn the workflow already finished stays as it
    // is). The rule references the state machine (Ref); nothing the state machine depends on
    // references the rule, so no cycle.
    this.executionEndedRule = new events.Rule(this, 'ExecutionEnded', {
      description: `${this.stateMachineName} executions that ended ${EXECUTION_ENDED_STATUSES.join('/')} -> turn-control (fail the turn, free the thread)`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: [...EXECUTION_ENDED_STATUSES],
          stateMachineArn: [this.stateMachine.stateMachineArn],
        },
      },
      targets: [
        new targets.LambdaFunction(this.turnControl.function, {
          retryAttempts: EXECUTION_ENDED_RETRY_ATTEMPTS,
          maxEventAge: EXECUTION_ENDED_MAX_EVENT_AGE,
          deadLetterQueue: this.executionEndedDeadLetters,
        }),
      ],
    });

    // Logging and tracing make CDK add log-delivery and X-Ray actions on "*" to the role.
    Validations.of(this.stateMachine.role.node.tryFindChild('DefaultPolicy') ?? this.stateMachine.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by CDK for the state machine\'s logging and X-Ray tracing: the CloudWatch Logs log-delivery actions (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets have no resource-level permissions, so IAM only accepts Resource "*" for them. Lambda invocation is limited to the agent and turn-control ARNs.',
    });
  }

  /** Sets STATE_MACHINE_ARN on the function and lets its role call states:StartExecution on this state machine only. */
  allowStartingTurns(fn: ThreadboundFunction): void {
    fn.function.addEnvironment('STATE_MACHINE_ARN', this.stateMachineArn);
    fn.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArn] }),
    );
  }
}
