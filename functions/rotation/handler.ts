import * as z from 'zod';
import { SecretsManagerVersions } from '../../lib/adapters/secrets-manager/secret-versions.js';
import { providerKeyVerifier } from '../../lib/models/key-check.js';
import { RotationError } from '../../lib/rotation/errors.js';
import type { RotationRecorder, RotationStrategy } from '../../lib/rotation/ports.js';
import { RotationProtocol } from '../../lib/rotation/protocol.js';
import { PROVIDER_KEY_ADMINS } from '../../lib/rotation/provider-admins.js';
import { generatedStrategy, providerAdminStrategy, stagedStrategy } from '../../lib/rotation/strategies.js';
import '../shared/deps/exposure.js';
import { config } from '../shared/deps/config.js';
import { secretLedger } from '../shared/deps/secret-ledger.js';
import { secretsManager } from '../shared/deps/secrets-manager.js';
import { logger } from '../shared/logger.js';
import { METRIC } from '../shared/metric-names.js';
import { emitMetric } from '../shared/metrics.js';
import { workerHandler } from '../shared/worker-handler.js';

/** The event Secrets Manager invokes a rotation function with. */
const rotationEvent = z.object({
  Step: z.enum(['createSecret', 'setSecret', 'testSecret', 'finishSecret']),
  SecretId: z.string().min(1),
  ClientRequestToken: z.string().min(1),
  RotationToken: z.string().optional(),
});

const verify = providerKeyVerifier(config);

/**
 * Records outcomes in the table and counts them: each failed step as RotationFailed{secret} (the CDK
 * alarm's metric), each finished rotation as RotationSucceeded{secret}.
 */
const recorder: RotationRecorder = {
  recordRotation: async (name, outcome) => {
    if (outcome.status === 'failed') {
      emitMetric(METRIC.rotationFailed, { secret: name });
      logger.error('rotation step failed', {
        secret: name,
        step: outcome.step,
        versionId: outcome.versionId,
        error: outcome.error,
      });
    } else {
      emitMetric(METRIC.rotationSucceeded, { secret: name });
      logger.info('rotation finished', { secret: name, versionId: outcome.versionId, strategy: outcome.strategy });
    }
    await secretLedger.recordRotation(name, outcome);
  },
  lastRotatedVersion: (name) => secretLedger.lastRotatedVersion(name),
};

const protocol = new RotationProtocol(
  config,
  new SecretsManagerVersions(secretsManager),
  (name, strategy): RotationStrategy => {
    if (strategy === 'generated') return generatedStrategy;
    if (strategy === 'staged') return stagedStrategy(verify);
    const admin = PROVIDER_KEY_ADMINS.get(name);
    if (!admin)
      throw new RotationError(
        'no_strategy',
        `secret "${name}" rotates with provider-admin, but no provider key admin is registered for it (lib/rotation/provider-admins.ts)`,
      );
    return providerAdminStrategy(admin, verify, secretLedger);
  },
  recorder,
);

/** The rotation Lambda: Secrets Manager invokes it once per step of each rotation. */
export const handler = workerHandler(async (raw: unknown): Promise<void> => {
  const event = rotationEvent.parse(raw);
  // No thread or tenant here: every line of the step names the secret and the step instead.
  logger.appendKeys({ step: event.Step, secretId: event.SecretId, versionId: event.ClientRequestToken });
  logger.info('rotation step');
  await protocol.step({ step: event.Step, secretId: event.SecretId, token: event.ClientRequestToken });
});
