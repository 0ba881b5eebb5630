import { randomUUID } from 'node:crypto';
import { type Body, bool, integer, secretId, text, versionIdParam } from './request.js';
import { invalidParameter, invalidRequest, ServiceError } from './service-error.js';
import {
  attach,
  CURRENT,
  DAY_MS,
  PENDING,
  type RotationRules,
  type SecretState,
  type StoredSecret,
  type StoredVersion,
  version,
  withStage,
} from './state.js';

/** The steps Secrets Manager invokes a rotation function with, in this order. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** One step of a rotation. */
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** The event a rotation Lambda receives from Secrets Manager. */
export interface RotationEvent {
  Step: RotationStep;
  /** The secret's ARN. */
  SecretId: string;
  /** The version id of the new (AWSPENDING) version. */
  ClientRequestToken: string;
  RotationToken?: string;
}

/** A rotation function, as the local stack invokes it in place of the rotation Lambda. */
export type RotationFunction = (event: RotationEvent) => Promise<unknown>;

/** Why the last rotation of a secret failed (what CloudWatch would show on AWS). */
export interface RotationFailure {
  step: RotationStep;
  versionId: string;
  errorType: string;
  message: string;
  at: Date;
}

const HOUR_MS = 3_600_000;

/** The next rotation date a schedule gives, counted from the last rotation; undefined for cron() schedules. */
function nextRotation(rules: RotationRules | undefined, from: Date): Date | undefined {
  if (rules?.AutomaticallyAfterDays) return new Date(from.getTime() + rules.AutomaticallyAfterDays * DAY_MS);
  const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(rules?.ScheduleExpression ?? '');
  if (rate) return new Date(from.getTime() + Number(rate[1]) * (rate[2]!.startsWith('hour') ? HOUR_MS : DAY_MS));
  return undefined;
}

/**
 * RotateSecret and the rotations it starts: the rotation function's four steps run in the
 * background after the call has answered, as on AWS, and a failed step is recorded per secret.
 */
export class Rotations {
  private readonly failures = new Map<string, RotationFailure>();
  private readonly running = new Set<Promise<void>>();
  /** Rotations running now, as `<arn>|<token>`. */
  private readonly active = new Set<string>();

  constructor(
    private readonly state: SecretState,
    /** Resolves a rotation Lambda ARN to the function the local stack runs for it. */
    private readonly rotationFunction?: (arn: string) => RotationFunction | undefined,
  ) {}

  /** Resolves when no rotation is running. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** The failure of the secret's last rotation, if it failed and none has succeeded since. */
  lastError(secretName: string): RotationFailure | undefined {
    return this.failures.get(secretName);
  }

  /** RotateSecret: stores the rotation configuration and starts a rotation of a new AWSPENDING version. */
  rotateSecret(body: Body) {
    const { state } = this;
    const secret = state.findLive(secretId(body));
    const token = versionIdParam(body, 'ClientRequestToken') ?? randomUUID();
    const lambdaArn = text(body, 'RotationLambdaARN', { max: 2048 }) ?? secret.rotationLambdaArn;
    const rules = body.RotationRules as RotationRules | undefined;
    const immediately = bool(body, 'RotateImmediately') ?? true;
    if (rules !== undefined) {
      integer(rules as Body, 'AutomaticallyAfterDays', { min: 1, max: 1000 });
      if (rules.AutomaticallyAfterDays !== undefined && rules.ScheduleExpression !== undefined) {
        throw invalidParameter(
          'You can specify AutomaticallyAfterDays or ScheduleExpression in RotationRules, but not both.',
        );
      }
      const expression = rules.ScheduleExpression;
      if (expression !== undefined && !/^(rate|cron)\(.+\)$/.test(expression))
        throw invalidParameter(`Invalid ScheduleExpression: ${expression}`);
      const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(expression ?? '');
      if (expression?.startsWith('rate(') && (!rate || (rate[2]!.startsWith('hour') && Number(rate[1]) < 4))) {
        throw invalidParameter('A rate() schedule must be in hours (at least 4) or days.');
      }
    }
    if (!lambdaArn) throw invalidRequest('No Lambda rotation function ARN is associated with this secret.');
    const fn = this.rotationFunction?.(lambdaArn);
    if (!fn) {
      throw new ServiceError(
        'AccessDeniedException',
        'Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.',
      );
    }
    // The function and rules are the secret's rotation configuration from now on, also when the
    // call goes on to reattempt a pending rotation (which needs rotation enabled to pass its guard).
    secret.rotationEnabled = true;
    secret.rotationLambdaArn = lambdaArn;
    if (rules !== undefined) secret.rotationRules = { ...rules };
    secret.nextRotationDate = nextRotation(
      secret.rotationRules,
      secret.lastRotatedDate ? new Date(secret.lastRotatedDate) : state.now(),
    )?.toISOString();
    secret.lastChangedDate = state.iso();
    state.persist();
    // Documented: AWSPENDING on a version other than AWSCURRENT's means a rotation is still in progress.
    const pending = withStage(secret, PENDING);
    if (pending && !pending.stages.includes(CURRENT)) {
      // "That rotation will be reattempted": as on AWS, the function runs again for the pending
      // version's token, so idempotent steps finish it (or fail again, leaving it pending).
      this.launch(secret.arn, pending.versionId, fn, true);
      throw invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.");
    }
    const retried = version(secret, token);
    if (retried) {
      // The token names a version that exists already: a retried request, which must not rotate twice.
      return { ARN: secret.arn, Name: secret.name, VersionId: token };
    }

    // The new version exists, with AWSPENDING and no value, before the function runs: createSecret fills it.
    const placeholder: StoredVersion = { versionId: token, stages: [], createdDate: state.iso() };
    secret.versions.push(placeholder);
    attach(secret, PENDING, placeholder);
    state.persist();

    this.launch(secret.arn, token, fn, immediately);

    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  }

  /** Records a failed rotation step, as the rotation function's logs would show it on AWS. */
  private fail(secret: StoredSecret, step: RotationStep, versionId: string, errorType: string, message: string) {
    this.failures.set(secret.name, { step, versionId, errorType, message, at: this.state.now() });
  }

  /** Runs the rotation function's steps for one version, after RotateSecret has answered. */
  private async rotate(arn: string, token: string, fn: RotationFunction, steps: readonly RotationStep[]) {
    const rotationToken = randomUUID();
    for (const step of steps) {
      try {
        // Lambda hands the function a JSON round-tripped event; so does this.
        const event = JSON.parse(
          JSON.stringify({ Step: step, SecretId: arn, ClientRequestToken: token, RotationToken: rotationToken }),
        ) as RotationEvent;
        await fn(event);
      } catch (error) {
        const secret = this.state.byArn(arn);
        const err = error instanceof Error ? error : new Error(String(error));
        // A failed step ends the rotation where it is: AWSPENDING stays for a later retry or clean-up.
        if (secret) this.fail(secret, step, token, err.name || 'Error', err.message);
        return false;
      }
    }
    return true;
  }

  /** Runs a rotation (all four steps, or testSecret alone) in the background, after RotateSecret has answered. */
  private launch(arn: string, token: string, fn: RotationFunction, immediately: boolean) {
    const { state } = this;
    // One run per version at a time: a RotateSecret arriving while that rotation still runs does
    // not start a second, racing one.
    const key = `${arn}|${token}`;
    if (this.active.has(key)) return;
    this.active.add(key);
    const run = (async () => {
      // As on AWS, the rotation starts after RotateSecret has answered.
      await new Promise((resolve) => setImmediate(resolve));
      if (!immediately) {
        // Documented: without an immediate rotation, testSecret alone runs against an AWSPENDING version that is removed afterwards.
        await this.rotate(arn, token, fn, ['testSecret']);
        const current = state.byArn(arn);
        const probe = current && version(current, token);
        if (current && probe && !probe.stages.includes(CURRENT)) {
          current.versions = current.versions.filter((v) => v !== probe);
          state.persist();
        }
        return;
      }
      if (!(await this.rotate(arn, token, fn, ROTATION_STEPS))) return;
      const current = state.byArn(arn);
      if (!current) return;
      if (!version(current, token)?.stages.includes(CURRENT)) {
        this.fail(
          current,
          'finishSecret',
          token,
          'RotationIncomplete',
          `the rotation function returned from finishSecret without moving AWSCURRENT to version ${token}`,
        );
        return;
      }
      const at = state.now();
      current.lastRotatedDate = at.toISOString();
      current.nextRotationDate = nextRotation(current.rotationRules, at)?.toISOString();
      current.lastChangedDate = at.toISOString();
      this.failures.delete(current.name);
      state.persist();
    })().catch((error: unknown) => {
      // Only a fault of this endpoint (say, an unwritable data file) lands here; the server keeps running.
      const current = state.byArn(arn);
      if (current)
        this.fail(
          current,
          'finishSecret',
          token,
          'InternalServiceError',
          error instanceof Error ? error.message : String(error),
        );
    });
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      this.active.delete(key);
    });
  }
}
