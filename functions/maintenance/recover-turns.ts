import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { recoverStaleTurns } from '../../lib/turns/recovery.js';
import { config, threadStore, turns } from '../shared/context.js';
import { logger } from '../shared/logger.js';
import { metrics } from '../shared/metrics.js';

/** Scheduled: fail turns whose lease expired (their process died) and start what was queued behind them. */
export async function handler(): Promise<{ recovered: number }> {
  const recovered = await recoverStaleTurns(config, threadStore, turns, { onError: (error, sessionKey) => logger.error('turn recovery failed', { sessionKey, error: error as Error }) });
  metrics.addMetric('LeasesReleased', MetricUnit.Count, recovered);
  metrics.publishStoredMetrics();
  if (recovered > 0) logger.info('recovered stale turns', { recovered });
  return { recovered };
}
