import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { TurnStarter } from './route-handlers.js';
import { grantTableAccess } from './table-access.js';
import { ThreadboundFunction } from './threadbound-function.js';

/** A maintenance run budgets 40 s of work, then stores its cursor: 60 s leaves it the time to. */
export const MAINTENANCE_JOB_TIMEOUT = Duration.seconds(60);
/**
 * A tick EventBridge cannot deliver within a minute is dropped (60 s is EventBridge's minimum
 * maximum age): the next tick continues from the stored cursor.
 */
export const MAINTENANCE_TICK_MAX_AGE = Duration.minutes(1);
/** EventBridge delivery retries of one tick, within the age above. */
export const MAINTENANCE_TICK_RETRIES = 2;

/** Props of a {@link ScheduledJob}. */
export interface ScheduledJobProps {
  readonly table: dynamodb.Table;
  /** Absolute path of the config file copied into the bundle. */
  readonly configPath: string;
  /** Lets the job start the turns queued behind a lease it releases (the TurnWorkflow). */
  readonly turns: TurnStarter;
  /** Construct id of the function (keeps logical ids stable). */
  readonly functionId: string;
  /** Entry file relative to the repository root. */
  readonly entry: string;
  readonly description: string;
  /** EventBridge schedule expression, `rate(...)` or `cron(...)`. */
  readonly schedule: string;
}

/**
 * A maintenance Lambda run by an EventBridge schedule rule: read/write table access (its cursor is
 * an item of the table too) and `states:StartExecution` on the turn state machine.
 */
export class ScheduledJob extends Construct {
  /** The job's function. */
  readonly handler: ThreadboundFunction;
  /** The schedule rule invoking it. */
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    this.handler = new ThreadboundFunction(this, props.functionId, {
      entry: props.entry,
      configPath: props.configPath,
      tableName: props.table.tableName,
      description: props.description,
      timeout: MAINTENANCE_JOB_TIMEOUT,
      // A failed run is not retried by Lambda: the next tick continues from the stored cursor, and a
      // retry could overlap it.
      asyncRetryAttempts: 0,
    });
    grantTableAccess(this.handler, props.table, 'write');
    props.turns.allowStartingTurns(this.handler);
    this.schedule = new events.Rule(this, 'Schedule', {
      description: `${props.description}, ${props.schedule}`,
      schedule: events.Schedule.expression(props.schedule),
      targets: [
        new targets.LambdaFunction(this.handler.function, {
          retryAttempts: MAINTENANCE_TICK_RETRIES,
          maxEventAge: MAINTENANCE_TICK_MAX_AGE,
        }),
      ],
    });
  }
}
