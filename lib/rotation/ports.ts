import type { SecretConfig } from '../config/schema.js';

/** The four steps Secrets Manager invokes a rotation function with, in order. */
export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

/** One invocation of the rotation function (Secrets Manager's event, without its AWS shape). */
export interface RotationRequest {
  step: RotationStep;
  /** The secret's ARN. */
  secretId: string;
  /** The version being rotated in (its id is the ClientRequestToken). */
  token: string;
}

/** What the rotation needs to know of a secret in Secrets Manager. */
export interface RotatingSecret {
  arn: string;
  name: string;
  rotationEnabled: boolean;
  /** Staging labels by version id. */
  versions: Record<string, string[]>;
}

/** The Secrets Manager calls of the rotation protocol. */
export interface SecretVersions {
  describe(secretId: string): Promise<RotatingSecret>;
  /** A version's value, or undefined when it has none (Secrets Manager's ResourceNotFoundException). */
  value(secretId: string, select: { versionId?: string; stage?: string }): Promise<string | undefined>;
  /** PutSecretValue(ClientRequestToken = token, VersionStages = ['AWSPENDING']): idempotent for the same value. */
  putPending(secretId: string, token: string, value: string): Promise<void>;
  /** UpdateSecretVersionStage: moves `stage` to `toVersion` (from `fromVersion`, which must hold it). */
  moveStage(secretId: string, stage: string, toVersion: string, fromVersion: string | undefined): Promise<void>;
}

/** What a strategy is told about the secret it rotates. */
export interface RotationContext {
  /** The config name of the secret. */
  name: string;
  config: SecretConfig;
  /** The AWSCURRENT value (the key in service until finishSecret). */
  current: string | undefined;
  /** The value of another version of the secret (e.g. a retired key to revoke), if it still exists. */
  versionValue(versionId: string): Promise<string | undefined>;
}

/** How one kind of secret gets a new value, is set where it is used, and is proven before promotion. */
export interface RotationStrategy {
  /** createSecret: the new value, when the token's version has none yet. */
  create(context: RotationContext): Promise<string>;
  /** setSecret: makes the service that checks the value accept it (a no-op when that service is the provider itself). */
  set(context: RotationContext, pending: string): Promise<void>;
  /** testSecret: throws when the pending value does not work; a value that throws is never promoted. */
  test(context: RotationContext, pending: string): Promise<void>;
  /** After finishSecret: the previous value's version, for strategies that must retire it later. */
  finished?(context: RotationContext, previousVersionId: string | undefined): Promise<void>;
}

/** The strategies a secret's `rotation.strategy` may name. */
export type RotationStrategyName = NonNullable<SecretConfig['rotation']>['strategy'];

/** Outcome of a rotation step, for the audit trail and the secret's status. */
export interface RotationOutcome {
  status: 'succeeded' | 'failed';
  step: RotationStep;
  versionId: string;
  strategy: RotationStrategyName;
  at: string;
  error?: string;
}

/** Where rotation outcomes are recorded (audit entries and the secret's figures). */
export interface RotationRecorder {
  /** A finished rotation (`secret_rotated`) or a failed step (`secret_rotation_failed`). */
  recordRotation(name: string, outcome: RotationOutcome): Promise<void>;
  /** The version id of the last rotation recorded as finished, to keep a repeated finishSecret from auditing twice. */
  lastRotatedVersion(name: string): Promise<string | undefined>;
}

/** Keys retired by a rotation, revoked once every cache could have dropped them (by version id, never value). */
export interface RevocationQueue {
  schedule(name: string, versionId: string, notBefore: string): Promise<void>;
  /** Version ids whose revocation is due at `now`. */
  due(name: string, now: string): Promise<string[]>;
  done(name: string, versionId: string): Promise<void>;
}

/**
 * A provider that can mint and revoke its own API keys (the `provider-admin` strategy). Revocation
 * of the previous key waits until every cache could have dropped it.
 */
export interface ProviderKeyAdmin {
  mint(current: string | undefined): Promise<string>;
  revoke(key: string): Promise<void>;
}
