import type { Construct } from 'constructs';
import {
  MAINTENANCE_JOB_TIMEOUT,
  MAINTENANCE_TICK_MAX_AGE,
  MAINTENANCE_TICK_RETRIES,
  ScheduledJob,
  type ScheduledJobProps,
} from './scheduled-job.js';

/**
 * How often the recovery function runs. It bounds how long a crashed turn (its process died, its
 * execution-ended event was lost) holds its thread beyond its lease: at most this long after the
 * lease expires, the turn is failed and the next queued turn starts. Not the config's
 * `threadManagement.cleanupSchedule`, which is for the idle-thread cleanup.
 */
export const TURN_RECOVERY_SCHEDULE = 'rate(1 minute)';
export const TURN_RECOVERY_TIMEOUT = MAINTENANCE_JOB_TIMEOUT;
export const TURN_RECOVERY_MAX_EVENT_AGE = MAINTENANCE_TICK_MAX_AGE;
export const TURN_RECOVERY_RETRY_ATTEMPTS = MAINTENANCE_TICK_RETRIES;

/** Props of {@link TurnRecovery}. */
export type TurnRecoveryProps = Omit<ScheduledJobProps, 'functionId' | 'entry' | 'description' | 'schedule'>;

/**
 * The backstop for turns stuck on AWS (functions/maintenance/recover-turns.ts): fails turns whose
 * lease expired and starts what was queued behind them, every {@link TURN_RECOVERY_SCHEDULE}.
 */
export class TurnRecovery extends ScheduledJob {
  constructor(scope: Construct, id: string, props: TurnRecoveryProps) {
    super(scope, id, {
      ...props,
      functionId: 'RecoverTurns',
      entry: 'functions/maintenance/recover-turns.ts',
      description: 'threadbound turn recovery (fail turns whose lease expired, start the queued ones)',
      schedule: TURN_RECOVERY_SCHEDULE,
    });
  }
}
