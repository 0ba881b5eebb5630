import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Config } from '../../lib/config/schema.js';
import { ApiKeyAuthorizer } from '../constructs/api-key-authorizer.js';
import { ThreadboundHttpApi } from '../constructs/http-api.js';
import { IdleSweep } from '../constructs/idle-sweep.js';
import { OperationsDashboard } from '../constructs/operations-dashboard.js';
import { RouteHandlers } from '../constructs/route-handlers.js';
import { StartupReconciliation } from '../constructs/startup-reconciliation.js';
import { ThreadboundSecrets } from '../constructs/threadbound-secrets.js';
import { ThreadboundTable } from '../constructs/threadbound-table.js';
import { TurnRecovery } from '../constructs/turn-recovery.js';
import { TurnWorkflow } from '../constructs/turn-workflow.js';

/** Props of the {@link ThreadboundStack}. */
export interface ThreadboundStackProps extends StackProps {
  /** The validated configuration (loading it at synth makes a bad file fail `cdk synth`, not a cold start). */
  readonly config: Config;
  /** Absolute path of the config file; it is copied into every function bundle. */
  readonly configPath: string;
}

/**
 * threadbound in one stack: the table, one Lambda per API handler, the authorizer, the HTTP API and
 * the turn workflow (one Lambda per agent, turn-control, the state machine, the execution-ended rule),
 * the config's secrets (a customer managed key, one secret per `aws-secretsmanager://` source, each
 * agent allowed to read only its own; for secrets with `rotation` the rotation Lambda, schedules and
 * alarms), the turn recovery schedule, the idle sweep on
 * `threadManagement.cleanupSchedule` and (when `threadManagement.startupReconciliation`) the
 * reconciliation run after every deployment.
 */
export class ThreadboundStack extends Stack {
  /** The validated configuration this stack was built from. */
  readonly config: Config;
  readonly table: ThreadboundTable;
  readonly authorizer: ApiKeyAuthorizer;
  readonly turnWorkflow: TurnWorkflow;
  /** The config's secrets, their KMS key, each agent's read grant and (`secrets.rotation`) their rotation. */
  readonly secrets: ThreadboundSecrets;
  readonly turnRecovery: TurnRecovery;
  readonly idleSweep: IdleSweep;
  /** Absent when `threadManagement.startupReconciliation` is false. */
  readonly startupReconciliation: StartupReconciliation | undefined;
  readonly handlers: RouteHandlers;
  readonly httpApi: ThreadboundHttpApi;
  /** The alarm topic, the alarms and the CloudWatch dashboard (docs/operations.md). */
  readonly operations: OperationsDashboard;

  constructor(scope: Construct, id: string, props: ThreadboundStackProps) {
    super(scope, id, props);
    this.config = props.config;

    this.table = new ThreadboundTable(this, 'Data');
    this.authorizer = new ApiKeyAuthorizer(this, 'Authorizer', {
      table: this.table.table,
      configPath: props.configPath,
    });
    this.turnWorkflow = new TurnWorkflow(this, 'TurnWorkflow', {
      table: this.table.table,
      config: props.config,
      configPath: props.configPath,
    });
    this.secrets = new ThreadboundSecrets(this, 'Secrets', {
      config: props.config,
      agents: this.turnWorkflow.agents,
      table: this.table.table,
      configPath: props.configPath,
    });
    this.turnRecovery = new TurnRecovery(this, 'TurnRecovery', {
      table: this.table.table,
      configPath: props.configPath,
      turns: this.turnWorkflow,
    });
    this.handlers = new RouteHandlers(this, 'Handlers', {
      table: this.table.table,
      configPath: props.configPath,
      turns: this.turnWorkflow,
      secrets: this.secrets,
    });
    this.httpApi = new ThreadboundHttpApi(this, 'Http', {
      handlers: this.handlers.functions,
      authorizer: this.authorizer.authorizer,
    });
    this.idleSweep = new IdleSweep(this, 'IdleSweep', {
      table: this.table.table,
      configPath: props.configPath,
      schedule: props.config.threadManagement.cleanupSchedule,
      turns: this.turnWorkflow,
    });
    this.operations = new OperationsDashboard(this, 'Operations', {
      config: props.config,
      rotationAlarms: this.secrets.rotation
        ? [...this.secrets.rotation.failureAlarms.values(), this.secrets.rotation.errorsAlarm]
        : [],
    });
    // Last, and after everything else holding a function: the reconciliation runs once the table,
    // the state machine and every function of this deployment (with this config) are in place.
    this.startupReconciliation = props.config.threadManagement.startupReconciliation
      ? new StartupReconciliation(this, 'StartupReconciliation', {
          table: this.table.table,
          configPath: props.configPath,
          turns: this.turnWorkflow,
          executeAfter: [
            this.table,
            this.turnWorkflow,
            this.turnRecovery,
            this.idleSweep,
            this.handlers,
            this.authorizer,
            ...(this.secrets.rotation ? [this.secrets.rotation] : []),
          ],
        })
      : undefined;

    new CfnOutput(this, 'ApiUrl', {
      value: this.httpApi.stage.url,
      description: 'Base URL of the HTTP API (routes start with /v1)',
    });
    new CfnOutput(this, 'TableName', {
      value: this.table.table.tableName,
      description: 'The DynamoDB table (API keys are items in it)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.operations.topic.topicArn,
      description: 'SNS topic every alarm notifies: subscribe to it (e-mail, chat, paging)',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.operations.dashboard.dashboardName,
      description: 'The CloudWatch dashboard of this deployment',
    });
    new CfnOutput(this, 'StateMachineArn', {
      value: this.turnWorkflow.stateMachine.stateMachineArn,
      description: 'The turn workflow (one execution per turn, named by its turnId)',
    });
  }
}
