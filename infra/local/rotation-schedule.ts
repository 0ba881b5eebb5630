import { DescribeSecretCommand, ResourceNotFoundException, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../../lib/config/schema.js';
import { rateIntervalMs } from '../../lib/config/schedule.js';
import { secretId } from '../../lib/secrets/reference.js';

/** A cron() schedule has no fixed interval; locally it rotates daily (the contract's default). */
const CRON_INTERVAL_MS = 86_400_000;

/**
 * The local stand-in for Secrets Manager's rotation schedules: each tick rotates every configured
 * secret that exists and whose last rotation (or, never rotated, the stack's start) is older than
 * its schedule's interval, through the same `rotate` the admin route uses (RotateSecret with the
 * rotation function, which the local endpoint runs step by step).
 */
export function rotationTick(config: Config, client: SecretsManagerClient, rotate: (name: string) => Promise<unknown>, startedAt: Date, now: () => Date = () => new Date()) {
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
      if (now().getTime() - last.getTime() < interval) continue;
      await rotate(name);
      rotated.push(name);
    }
    return rotated;
  };
}
