import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { rateIntervalMs } from '../../lib/config/schedule.js';
import type { Config } from '../../lib/config/schema.js';
import { isOwnedSource, secretId } from '../../lib/secrets/reference.js';

/** A cron() schedule has no fixed interval; locally it rotates daily (the contract's default). */
const CRON_INTERVAL_MS = 86_400_000;

/**
 * The local stand-in for Secrets Manager's rotation schedules: each tick rotates every configured
 * secret that exists and whose last rotation (or, never rotated, the stack's start) is older than
 * its schedule's interval, through the same `rotate` the admin route uses (RotateSecret with the
 * rotation function, which the local endpoint runs step by step).
 */
export function rotationTick(
  config: Config,
  client: SecretsManagerClient,
  rotate: (name: string) => Promise<unknown>,
  startedAt: Date,
  now: () => Date = () => new Date(),
) {
  // When each secret was last tried here: a rotation that failed (LastRotatedDate does not move)
  // is tried again after its interval, not on every tick.
  const attempted = new Map<string, number>();
  return async (): Promise<string[]> => {
    const rotated: string[] = [];
    for (const [name, secret] of Object.entries(config.secrets)) {
      if (!secret.rotation) continue;
      let last: Date;
      try {
        const described = await client.send(new DescribeSecretCommand({ SecretId: secretId(secret.source) }));
        if (described.DeletedDate) continue;
        last = described.LastRotatedDate ?? startedAt;
      } catch (error) {
        if (error instanceof ResourceNotFoundException) continue; // not created yet: nothing to rotate
        throw error;
      }
      const interval = rateIntervalMs(secret.rotation.schedule) ?? CRON_INTERVAL_MS;
      const since = Math.max(last.getTime(), attempted.get(name) ?? 0);
      if (now().getTime() - since < interval) continue;
      attempted.set(name, now().getTime());
      await rotate(name);
      rotated.push(name);
    }
    return rotated;
  };
}

/**
 * What CloudFormation does for `generated` secrets on AWS: creates each missing one with a random
 * value (43 letters and digits, the format its rotation makes). Other secrets wait for the operator.
 */
export async function ensureGeneratedSecrets(config: Config, client: SecretsManagerClient): Promise<string[]> {
  const created: string[] = [];
  for (const [name, secret] of Object.entries(config.secrets)) {
    if (secret.rotation?.strategy !== 'generated' || !isOwnedSource(secret.source)) continue;
    try {
      await client.send(
        new CreateSecretCommand({
          Name: secretId(secret.source),
          SecretString: randomAlphanumeric(43),
          Description: `threadbound secret "${name}" (generated)`,
        }),
      );
      created.push(name);
    } catch (error) {
      if (!(error instanceof ResourceExistsException)) throw error;
    }
  }
  return created;
}

function randomAlphanumeric(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // 248 = 62 * 4: rejecting bytes above it keeps every character equally likely.
  return Array.from(
    randomBytes(length * 2).filter((byte) => byte < 248),
    (byte) => alphabet[byte % 62],
  )
    .slice(0, length)
    .join('');
}
