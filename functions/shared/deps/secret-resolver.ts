import './exposure.js';
import { SecretResolver } from '../../../lib/secrets/resolver.js';
import { METRIC } from '../metric-names.js';
import { emitMetric } from '../metrics.js';
import { config } from './config.js';
import { secretLedger } from './secret-ledger.js';
import { secretsManagerSource } from './secrets-manager.js';

/** One resolver per process: its cache and its de-duplication of fetches span every invocation. */
export const secretResolver = new SecretResolver(config, secretsManagerSource, secretLedger, {
  onAccess: ({ secret, outcome }) =>
    emitMetric(outcome === 'served' ? METRIC.secretAccess : METRIC.secretDenied, { secret }),
});
