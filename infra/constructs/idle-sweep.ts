import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { TurnStarter } from './route-handlers.js';
import { grantTableAccess } from './table-access.js';
import { ThreadboundFunction } from './threadbound-function.js';

/**
 * The handler budgets 40 s of work, then stores its cursor (the next run continues from there):
 * 60 s leaves it the time to do so.
 */
export const IDLE_SWEEP_TIMEOUT = Duration.seconds(60);
/**
 * A tick EventBridge cannot deliver within a minute is dropped (60 s is EventBridge's minimum
 * maximum age): the next tick continues from the stored cursor.
 */
export const IDLE_SWEEP_MAX_EVENT_AGE = Duration.minutes(1);
/** EventBridge delivery retries of one tick, within the age above. */
export const IDLE_SWEEP_RETRY_ATTEMPTS = 2;

/** Props of {@link IdleSweep}. */
export interface IdleSweepProps {
  readonly table: dynamodb.Table;
  /** Absolute path of the config file copied into the bundle. */
  readonly configPath: string;
  /**
   * EventBridge schedule expression, `rate(...)` or `cron(...)`: the config's
   * `threadManagement.cleanupSchedule` (validated by the config schema).
   */
  readonly schedule: string;
  /** Lets the function start the turns queued behind a lease it releases (the {@link TurnWorkflow}). */
  readonly turns: TurnStarter;
}

/**
 * Idle-thread cleanup (functions/maintenance/idle-sweep.ts): ends threads idle longer than their
 * idle timeout and releases expired leases (then starts what was queued behind them), one bounded
 * run per tick of an EventBridge schedule rule on `threadManagement.cleanupSchedule`. Read/write
 * table access (the cursor is an item of the table too) and `states:StartExecution` on the turn
 * state machine (with STATE_MACHINE_ARN), like turn recovery.
 */
export class IdleSweep extends Construct {
  /** The sweep function. */
  readonly handler: ThreadboundFunction;
  /** The schedule rule invoking it. */
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: IdleSweepProps) {
    super(scope, id);

    this.handler = new ThreadboundFunction(this, 'IdleSweep', {
      entry: 'functions/maintenance/idle-sweep.ts',
      configPath: props.configPath,
      tableName: props.table.tableName,
      description: 'threadbound idle sweep (end idle threads, release expired leases, start the queued turns)',
      timeout: IDLE_SWEEP_TIMEOUT,
      // A failed run is not retried by Lambda: the next tick continues from the stored cursor, and a
      // retry could overlap it.
      asyncRetryAttempts: 0,
    });
    grantTableAccess(this.handler, props.table, 'write');
    props.turns.allowStartingTurns(this.handler);

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `threadbound idle sweep, ${props.schedule} (threadManagement.cleanupSchedule)`,
      // Already validated as rate(...) / cron(...) by the config schema; passed on as it is.
      schedule: events.Schedule.expression(props.schedule),
      targets: [
        new targets.LambdaFunction(this.handler.function, {
          retryAttempts: IDLE_SWEEP_RETRY_ATTEMPTS,
          maxEventAge: IDLE_SWEEP_MAX_EVENT_AGE,
        }),
      ],
    });
  }
}
