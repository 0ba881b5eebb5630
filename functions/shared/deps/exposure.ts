import { processRedactor } from '../../../lib/secrets/redactor.js';
import { logger } from '../logger.js';
import { METRIC } from '../metric-names.js';
import { emitMetric } from '../metrics.js';
import { secretLedger } from './secret-ledger.js';

// Imported (for this effect) by every module that makes the process learn secret values: the
// resolver, the admin and the rotation function. A process that learns none can redact nothing, so
// the others need no listener; a module evaluates once per process, so the listener is added once.
//
// A redaction hit means a secret value was about to leave the process: count it, in the metrics
// and on the secret's own figures, and say so (the line names the secret, never the value). The
// metric has no dimension but `service`, so one alarm sees every exposure, and it is published at
// once (not with the invocation's metrics, which a crash could lose).
processRedactor.onExposure((secret, count) => {
  emitMetric(METRIC.exposureRisk, {}, count);
  logger.warn('exposure risk: a secret value was redacted from outgoing data', { secret, count });
  secretLedger
    .recordExposures(secret, count)
    .catch((error: unknown) =>
      logger.error('could not count an exposure-risk event', { secret, error: error as Error }),
    );
});
