import { durationMs } from '../config/duration.js';
import type { SecretConfig } from '../config/schema.js';

/** A secret's `rotation` config (lib/config/schema.ts). */
export type RotationConfig = NonNullable<SecretConfig['rotation']>;

/**
 * Secrets Manager's `RotationRules` as CloudFormation (`AWS::SecretsManager::RotationSchedule`) and
 * the RotateSecret API take them: the schedule expression and, optionally, the window length.
 * Never `AutomaticallyAfterDays` (RotateSecret refuses it together with `ScheduleExpression`).
 */
export interface RotationRules {
  /** `rate(<n> hours|days)` or `cron(0 <hours> <day-of-month> <month> <day-of-week> *)`, UTC. */
  readonly scheduleExpression: string;
  /** Rotation window in whole hours, `"<n>h"` (e.g. `"3h"`); absent → Secrets Manager's default window. */
  readonly duration?: string;
}

const HOUR_MS = 3_600_000;
/** Secrets Manager rotates at most every four hours. */
const MIN_RATE_HOURS = 4;
/** The longest interval Secrets Manager accepts (RotationRules.AutomaticallyAfterDays: 1–1000). */
const MAX_RATE_DAYS = 1000;

/**
 * Converts and checks a secret's `rotation` config into Secrets Manager's rotation rules, so that a
 * schedule Secrets Manager would refuse fails `cdk synth` (naming the secret) instead of the
 * deployment. What is checked is what the Secrets Manager documentation states
 * (`rotate-secrets_schedule`, `RotationRulesType`):
 *
 * - `rate(<n> hour|hours|day|days)`: at least 4 hours, at most 1000 days; the window of a rate
 *   starts at midnight UTC;
 * - `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: six fields, minutes `0` (windows open
 *   on the hour), year `*`;
 * - `window` (config duration such as `"3h"`, `"1d"`) → `Duration` in whole hours `"<n>h"`, 1–24 h;
 *   it must not run into the next UTC day (start hour + window ≤ 24, checked when the cron's hour is
 *   a single number) nor into the next window (≤ the rate for an hourly rate).
 *
 * Pure (no CDK), so the RotateSecret caller (`POST /v1/secrets/{name}/rotate`) can send the very
 * same rules.
 */
export function rotationRules(secretName: string, rotation: RotationConfig): RotationRules {
  const fail = (message: string): never => {
    throw new Error(`secret "${secretName}": ${message}`);
  };
  const schedule = rotation.schedule.trim();
  /** Where the window starts (hour of the UTC day), when it is known at synth. */
  let startHour: number | undefined;
  /** The interval of an hourly rate, which the window must not exceed. */
  let intervalHours: number | undefined;

  const rate = /^rate\((\d+) (hours?|days?)\)$/.exec(schedule);
  const cron = /^cron\((.+)\)$/.exec(schedule);
  if (rate) {
    const value = Number(rate[1]);
    if (rate[2]!.startsWith('hour')) {
      if (value < MIN_RATE_HOURS)
        fail(`rotation.schedule "${schedule}": Secrets Manager rotates at most every ${MIN_RATE_HOURS} hours`);
      intervalHours = value;
    } else if (value < 1 || value > MAX_RATE_DAYS) {
      fail(`rotation.schedule "${schedule}": a rate in days must be 1 to ${MAX_RATE_DAYS} days`);
    }
    startHour = 0;
  } else if (cron) {
    const fields = cron[1]!.trim().split(/\s+/);
    if (fields.length !== 6)
      fail(
        `rotation.schedule "${schedule}": a cron expression has 6 fields (Minutes Hours Day-of-month Month Day-of-week Year)`,
      );
    if (fields[0] !== '0')
      fail(
        `rotation.schedule "${schedule}": the minutes field must be 0 (Secrets Manager rotation windows open on the hour)`,
      );
    if (fields[5] !== '*')
      fail(
        `rotation.schedule "${schedule}": the year field must be * (Secrets Manager schedules at most a year apart)`,
      );
    if (/^\d{1,2}$/.test(fields[1]!)) {
      startHour = Number(fields[1]);
      if (startHour > 23) fail(`rotation.schedule "${schedule}": the hours field must be 0–23`);
    }
  } else {
    fail(
      `rotation.schedule "${schedule}": expected rate(<n> hours|days) or cron(0 <hours> <day-of-month> <month> <day-of-week> *)`,
    );
  }

  if (rotation.window === undefined) return { scheduleExpression: schedule };
  const windowMs = durationMs(rotation.window);
  if (windowMs % HOUR_MS !== 0)
    fail(`rotation.window "${rotation.window}": Secrets Manager takes the window in whole hours`);
  const hours = windowMs / HOUR_MS;
  if (hours < 1 || hours > 24)
    fail(`rotation.window "${rotation.window}": must be 1 to 24 hours (the window cannot run into the next UTC day)`);
  if (startHour !== undefined && startHour + hours > 24) {
    fail(`rotation.window "${rotation.window}": starting at ${startHour}:00 UTC it would run into the next UTC day`);
  }
  if (intervalHours !== undefined && hours > intervalHours) {
    fail(
      `rotation.window "${rotation.window}": longer than the ${intervalHours}-hour rotation interval (it would run into the next window)`,
    );
  }
  return { scheduleExpression: schedule, duration: `${hours}h` };
}
