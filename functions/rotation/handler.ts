import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { providerKeyVerifier } from '../../lib/models/key-check.js';
import { RotationError } from '../../lib/rotation/errors.js';
import type { RotationRecorder, RotationStrategy } from '../../lib/rotation/ports.js';
import { RotationProtocol } from '../../lib/rotation/protocol.js';
import { PROVIDER_KEY_ADMINS } from '../../lib/rotation/provider-admins.js';
import { SecretsManagerVersions } from '../../lib/rotation/secrets-manager-versions.js';
import { generatedStrategy, providerAdminStrategy, stagedStrategy } from '../../lib/rotation/strategies.js';
import { config, secretLedger, secretsManager } from '../shared/context.js';
import { logger } from '../shared/logger.js';
import { flushMetrics, metrics } from '../shared/metrics.js';

/** The event Secrets Manager invokes a rotation function with. */
const rotationEvent = z.object({
  Step: z.enum(['createSecret', 'setSecret', 'testSecret', 'finishSecret']),
  SecretId: z.string().min(1),
  ClientRequestToken: z.string().min(1),
  RotationToken: z.string().optional(),
});

const verify = providerKeyVerifier(config);

/** Records outcomes in the table and counts each failed step as RotationFailed{secret} (the CDK alarm's metric). */
const recorder: RotationRecorder = {
  recordRotation: async (name, outcome) => {
    if (outcome.status === 'failed') {
      const single = metrics.singleMetric();
      single.addDimension('secret', name);
      single.addMetric('RotationFailed', MetricUnit.Count, 1);
      logger.error('rotation step failed', { secret: name, step: outcome.step, versionId: outcome.versionId, error: outcome.error });
    } else {
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
    if (!admin) throw new RotationError('no_strategy', `secret "${name}" rotates with provider-admin, but no provider key admin is registered for it (lib/rotation/provider-admins.ts)`);
    return providerAdminStrategy(admin, verify, secretLedger);
  },
  recorder,
);

/** The rotation Lambda: Secrets Manager invokes it once per step of each rotation. */
export async function handler(raw: unknown): Promise<void> {
  const event = rotationEvent.parse(raw);
  logger.info('rotation step', { step: event.Step, secretId: event.SecretId, versionId: event.ClientRequestToken });
  try {
    await protocol.step({ step: event.Step, secretId: event.SecretId, token: event.ClientRequestToken });
  } finally {
    flushMetrics();
  }
}
