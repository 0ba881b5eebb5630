import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import type { TurnStarter } from './route-handlers.js';
import { grantTableAccess } from './table-access.js';
import { ThreadboundFunction } from './threadbound-function.js';

/**
 * How often the recovery function runs. It bounds how long a crashed turn (its process died, its
 * execution-ended event was lost) holds its thread beyond its lease: at most this long after the
 * lease expires, the turn is failed and the next queued turn starts. Not the config's
 * `threadManagement.cleanupSchedule`, which is for the idle-thread cleanup.
 */
export const TURN_RECOVERY_SCHEDULE = 'rate(1 minute)';
/** One pass over every live thread (every index shard); well inside the schedule's period. */
export const TURN_RECOVERY_TIMEOUT = Duration.seconds(60);
/**
 * A tick EventBridge cannot deliver within a minute is dropped (60 s is EventBridge's minimum
 * maximum age): the next tick does the same work.
 */
export const TURN_RECOVERY_MAX_EVENT_AGE = Duration.minutes(1);
/** EventBridge delivery retries of one tick, within the age above. */
export const TURN_RECOVERY_RETRY_ATTEMPTS = 2;

/** Props of {@link TurnRecovery}. */
export interface TurnRecoveryProps {
  readonly table: dynamodb.Table;
  /** Absolute path of the config file copied into the bundle. */
  readonly configPath: string;
  /** Lets the function start the turns queued behind a recovered one (the {@link TurnWorkflow}). */
  readonly turns: TurnStarter;
}

/**
 * The backstop for turns stuck on AWS: a Lambda (functions/maintenance/recover-turns.ts) that fails
 * turns whose lease expired and starts what was queued behind them, run by an EventBridge schedule
 * rule every {@link TURN_RECOVERY_SCHEDULE}. Read/write table access and `states:StartExecution` on
 * the turn state machine (with STATE_MACHINE_ARN), like turn-control.
 */
export class TurnRecovery extends Construct {
  /** The recovery function. */
  readonly handler: ThreadboundFunction;
  /** The schedule rule invoking it. */
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: TurnRecoveryProps) {
    super(scope, id);

    this.handler = new ThreadboundFunction(this, 'RecoverTurns', {
      entry: 'functions/maintenance/recover-turns.ts',
      configPath: props.configPath,
      tableName: props.table.tableName,
      description: 'threadbound turn recovery (fail turns whose lease expired, start the queued ones)',
      timeout: TURN_RECOVERY_TIMEOUT,
      // A failed run is not retried by Lambda: the next tick is the retry, and a retry would only
      // overlap it.
      asyncRetryAttempts: 0,
    });
    grantTableAccess(this.handler, props.table, 'write');
    props.turns.allowStartingTurns(this.handler);

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `threadbound turn recovery, ${TURN_RECOVERY_SCHEDULE}`,
      schedule: events.Schedule.expression(TURN_RECOVERY_SCHEDULE),
      targets: [
        new targets.LambdaFunction(this.handler.function, {
          retryAttempts: TURN_RECOVERY_RETRY_ATTEMPTS,
          maxEventAge: TURN_RECOVERY_MAX_EVENT_AGE,
        }),
      ],
    });
  }
}
