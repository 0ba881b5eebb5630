import {
  createSecret,
  deleteSecret,
  describeSecret,
  getSecretValue,
  listSecrets,
  putSecretValue,
  updateSecretVersionStage,
} from './secrets-manager/operations.js';
import type { Body } from './secrets-manager/request.js';
import { type RotationFailure, type RotationFunction, Rotations } from './secrets-manager/rotation.js';
import { type Operation, serveSecretsManager } from './secrets-manager/server.js';
import { SecretState } from './secrets-manager/state.js';

export {
  ROTATION_STEPS,
  type RotationEvent,
  type RotationFailure,
  type RotationFunction,
  type RotationStep,
} from './secrets-manager/rotation.js';

/** Options of the local Secrets Manager endpoint. */
export interface LocalSecretsManagerOptions {
  /** JSON file holding every secret; created on first change, reloaded at start. */
  dataFile: string;
  /** Resolves a rotation Lambda ARN to the function the local stack runs for it. */
  rotationFunction?: (arn: string) => RotationFunction | undefined;
  /** The clock (dates, recovery windows, rotation schedule); tests pass a fake one. */
  now?: () => Date;
}

/** A running local Secrets Manager endpoint. */
export interface LocalSecretsManager {
  endpoint: string;
  /** Requests received for an operation, in total or for one secret (by name). */
  calls(operation: string, secretName?: string): number;
  /** Resolves when no rotation is running. */
  rotations(): Promise<void>;
  /** The failure of the secret's last rotation, if it failed and none has succeeded since. */
  lastRotationError(secretName: string): RotationFailure | undefined;
  stop(): Promise<void>;
}

/**
 * A loopback endpoint speaking the Secrets Manager JSON protocol (awsJson1_1) for the subset the
 * project uses — CreateSecret, GetSecretValue, PutSecretValue, DescribeSecret,
 * UpdateSecretVersionStage, ListSecrets, DeleteSecret, RotateSecret — with AWS's staging-label
 * semantics, so the real @aws-sdk/client-secrets-manager runs against it unchanged. RotateSecret
 * invokes the rotation function's four steps asynchronously, as AWS does. State is persisted in
 * `dataFile` after every change. Nothing is logged, so no secret value can leak into a log.
 */
export async function startLocalSecretsManager(options: LocalSecretsManagerOptions): Promise<LocalSecretsManager> {
  const state = new SecretState(options.dataFile, options.now ?? (() => new Date()));
  const rotations = new Rotations(state, options.rotationFunction);
  const over = (operation: (state: SecretState, body: Body) => unknown) => (body: Body) => operation(state, body);
  const operations: Record<string, Operation> = {
    CreateSecret: over(createSecret),
    GetSecretValue: over(getSecretValue),
    PutSecretValue: over(putSecretValue),
    DescribeSecret: over(describeSecret),
    UpdateSecretVersionStage: over(updateSecretVersionStage),
    ListSecrets: over(listSecrets),
    DeleteSecret: over(deleteSecret),
    RotateSecret: (body) => rotations.rotateSecret(body),
  };
  const server = await serveSecretsManager(state, operations);

  return {
    endpoint: server.endpoint,
    calls: (operation, secretName) => server.calls(operation, secretName),
    rotations: () => rotations.settled(),
    lastRotationError: (secretName) => rotations.lastError(secretName),
    stop: async () => {
      state.stop();
      await server.close();
    },
  };
}
