import type { Construct } from 'constructs';
import {
  MAINTENANCE_JOB_TIMEOUT,
  MAINTENANCE_TICK_MAX_AGE,
  MAINTENANCE_TICK_RETRIES,
  ScheduledJob,
  type ScheduledJobProps,
} from './scheduled-job.js';

export const IDLE_SWEEP_TIMEOUT = MAINTENANCE_JOB_TIMEOUT;
export const IDLE_SWEEP_MAX_EVENT_AGE = MAINTENANCE_TICK_MAX_AGE;
export const IDLE_SWEEP_RETRY_ATTEMPTS = MAINTENANCE_TICK_RETRIES;

/** Props of {@link IdleSweep}: the schedule is the config's `threadManagement.cleanupSchedule`. */
export type IdleSweepProps = Omit<ScheduledJobProps, 'functionId' | 'entry' | 'description'>;

/**
 * Idle-thread cleanup (functions/maintenance/idle-sweep.ts): ends threads idle longer than their
 * idle timeout and releases expired leases, one bounded run per tick of
 * `threadManagement.cleanupSchedule` (already validated as rate(...) / cron(...) by the config schema).
 */
export class IdleSweep extends ScheduledJob {
  constructor(scope: Construct, id: string, props: IdleSweepProps) {
    super(scope, id, {
      ...props,
      functionId: 'IdleSweep',
      entry: 'functions/maintenance/idle-sweep.ts',
      description: 'threadbound idle sweep (end idle threads, release expired leases, start the queued turns)',
    });
  }
}
