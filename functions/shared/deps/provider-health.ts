import { DynamoCircuitStore } from '../../../lib/adapters/dynamodb/circuit-store.js';
import { durationMs } from '../../../lib/config/duration.js';
import { CircuitBreaker } from '../../../lib/models/circuit-breaker.js';
import { logger } from '../logger.js';
import { METRIC } from '../metric-names.js';
import { emitMetric } from '../metrics.js';
import { config } from './config.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** The providers' circuits, shared by every instance through the table. */
export const providerHealth = new CircuitBreaker(new DynamoCircuitStore(documentClient, tableName()), {
  failureThreshold: config.circuitBreaker.failureThreshold,
  cooldownMs: durationMs(config.circuitBreaker.cooldown),
  onTransition: (provider, state) => {
    if (state === 'open') emitMetric(METRIC.circuitOpened, { provider });
    if (state === 'closed') emitMetric(METRIC.circuitClosed, { provider });
    logger.info('circuit changed', { provider, state });
  },
});
