import { type CfnResource, type CustomResource, CustomResourceProviderBase, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct, type IConstruct } from 'constructs';
import type { TurnStarter } from './route-handlers.js';
import { grantTableAccess } from './table-access.js';
import { FUNCTION_LOG_RETENTION, ThreadboundFunction } from './threadbound-function.js';

/** One full pass over the table (every thread, every counter). */
export const RECONCILE_TIMEOUT = Duration.minutes(5);
/**
 * How long the trigger's provider waits for the synchronous invocation (its socket timeout): longer
 * than the function's own timeout, so a slow run ends as the function's timeout error, not as a
 * dropped connection.
 */
export const RECONCILE_TRIGGER_TIMEOUT = RECONCILE_TIMEOUT.plus(Duration.minutes(1));
/**
 * Context key of the deploy nonce: `cdk deploy -c threadbound:deployNonce=<value>` (tests pass a
 * fixed one). Without it, every synth uses the current time.
 */
export const DEPLOY_NONCE_CONTEXT = 'threadbound:deployNonce';
/** The property of the `Custom::Trigger` resource that carries the nonce. */
export const DEPLOY_NONCE_PROPERTY = 'DeployNonce';
/** Construct id (under the stack) of the singleton provider that aws-cdk-lib/triggers creates for every Trigger. */
export const TRIGGER_PROVIDER_ID = 'AWSCDK.TriggerCustomResourceProviderCustomResourceProvider';

/**
 * The nonce that makes the trigger run on every deployment: the context value
 * {@link DEPLOY_NONCE_CONTEXT} when given, else the synth time in milliseconds.
 */
export function deployNonce(scope: IConstruct): string {
  const given: unknown = scope.node.tryGetContext(DEPLOY_NONCE_CONTEXT);
  if (given === undefined || given === null) return String(Date.now());
  const nonce = String(given);
  if (nonce.trim() === '')
    throw new Error(`context ${DEPLOY_NONCE_CONTEXT} must not be empty (omit it to use the synth time)`);
  return nonce;
}

/** Props of {@link StartupReconciliation}. */
export interface StartupReconciliationProps {
  readonly table: dynamodb.Table;
  /** Absolute path of the config file copied into the bundle. */
  readonly configPath: string;
  /** Lets the function start the turns queued behind a lease it releases (the {@link TurnWorkflow}). */
  readonly turns: TurnStarter;
  /**
   * Construct scopes that must be deployed before the reconciliation runs (the table, the turn
   * workflow with its state machine, every function): the trigger's custom resource gets a
   * DependsOn on every resource in them.
   */
  readonly executeAfter: readonly Construct[];
}

/**
 * Startup reconciliation (functions/maintenance/reconcile.ts) after every deployment: brings the
 * threads in line with the deployed config and the counters in line with the threads, releases
 * expired leases and starts what was queued behind them. Run by a CDK Trigger (a `Custom::Trigger`
 * resource) that invokes the function synchronously once everything in `executeAfter` is deployed;
 * a failed run fails the deployment (Trigger's default `RequestResponse` invocation).
 *
 * "Every deployment": a Trigger re-runs only when its custom resource is updated, which by default
 * happens when the handler's version changes. The resource also carries a {@link deployNonce} (a new
 * value at every synth), so every deployment updates it and the provider invokes the function again.
 */
export class StartupReconciliation extends Construct {
  /** The reconciliation function. */
  readonly handler: ThreadboundFunction;
  /** The trigger invoking it during the deployment. */
  readonly trigger: triggers.Trigger;
  /** The `Custom::Trigger` resource (its properties carry the nonce). */
  readonly triggerResource: CfnResource;
  /** The nonce of this synth. */
  readonly deployNonce: string;
  /** The stack's Trigger provider, hardened (own log group, no managed policy). */
  readonly provider: TriggerProviderResources;

  constructor(scope: Construct, id: string, props: StartupReconciliationProps) {
    super(scope, id);

    this.handler = new ThreadboundFunction(this, 'Reconcile', {
      entry: 'functions/maintenance/reconcile.ts',
      configPath: props.configPath,
      tableName: props.table.tableName,
      description:
        'threadbound startup reconciliation (threads in line with the config, counters with the threads), run after every deployment',
      timeout: RECONCILE_TIMEOUT,
    });
    grantTableAccess(this.handler, props.table, 'write');
    props.turns.allowStartingTurns(this.handler);

    // RequestResponse (the default) so a failed run fails the deployment; executeOnHandlerChange
    // (the default) keeps the handler-change re-run, the nonce below adds every other deployment.
    this.trigger = new triggers.Trigger(this, 'AfterDeploy', {
      handler: this.handler.function,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: RECONCILE_TRIGGER_TIMEOUT,
      executeAfter: [...props.executeAfter],
    });

    // The provider invokes the handler on Create and on every Update (it skips Delete, and Update
    // only when ExecuteOnHandlerChange is false): a property that changes at every synth turns
    // every deployment into an Update. The aws-cdk-lib triggers README names this very mechanism
    // ("add random salt during synthesis") as the way to re-execute on every deployment.
    this.deployNonce = deployNonce(this);
    this.triggerResource = (this.trigger.node.findChild('Default') as CustomResource).node.defaultChild as CfnResource;
    this.triggerResource.addPropertyOverride(DEPLOY_NONCE_PROPERTY, this.deployNonce);

    this.provider = hardenTriggerProvider(Stack.of(this));
  }
}

/** The resources of the stack's singleton Trigger provider (see {@link hardenTriggerProvider}). */
export interface TriggerProviderResources {
  /** Its role (a plain `AWS::IAM::Role` CfnResource with an inline policy). */
  readonly role: CfnResource;
  /** Its function (a plain `AWS::Lambda::Function` CfnResource). */
  readonly function: CfnResource;
  /** The log group it now writes to. */
  readonly logGroup: logs.LogGroup;
}

/**
 * Brings the stack's singleton Trigger provider (a CustomResourceProvider: plain CfnResources, which
 * cdk-nag does not inspect — its rules match the L1 classes such as CfnRole) in line with the
 * project's functions: its own log group with a retention, and only the right to write to it,
 * instead of AWSLambdaBasicExecutionRole (which may write to every log group of the account).
 * What remains on its role is the Trigger's `lambda:InvokeFunction` on `<handler ARN>:*` (the
 * handler's versions: it invokes the current version). Idempotent: a second Trigger in the stack
 * reuses the hardened provider.
 */
export function hardenTriggerProvider(stack: Stack): TriggerProviderResources {
  const provider = stack.node.tryFindChild(TRIGGER_PROVIDER_ID);
  if (!(provider instanceof CustomResourceProviderBase)) {
    throw new Error(
      `the Trigger provider ${TRIGGER_PROVIDER_ID} was not found under stack ${stack.stackName}: aws-cdk-lib/triggers changed, review hardenTriggerProvider`,
    );
  }
  const role = provider.node.findChild('Role') as CfnResource;
  const providerFunction = provider.node.findChild('Handler') as CfnResource;

  let logGroup = provider.node.tryFindChild('Logs') as logs.LogGroup | undefined;
  if (logGroup === undefined) {
    logGroup = new logs.LogGroup(provider, 'Logs', { retention: FUNCTION_LOG_RETENTION });
    providerFunction.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
    provider.addToRolePolicy({
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: logGroup.logGroupArn,
    });
    role.addPropertyDeletionOverride('ManagedPolicyArns');
  }
  return { role, function: providerFunction, logGroup };
}
