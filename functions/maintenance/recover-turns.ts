import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { recoverStaleTurns } from '../../lib/maintenance/turn-recovery.js';
import { config } from '../shared/deps/config.js';
import { cursors } from '../shared/deps/cursors.js';
import { threadStore } from '../shared/deps/thread-store.js';
import { turns } from '../shared/deps/turns.js';
import { logger } from '../shared/logger.js';
import { METRIC } from '../shared/metric-names.js';
import { metrics } from '../shared/metrics.js';
import { workerHandler } from '../shared/worker-handler.js';

const JOB = 'turn-recovery';

/** Scheduled: fail turns whose lease expired (their process died) and start what was queued behind them. */
export const handler = workerHandler(async (): Promise<{ recovered: number }> => {
  const { changed, cursor } = await recoverStaleTurns(config, threadStore, turns, {
    cursor: await cursors.get(JOB),
    onError: (error, sessionKey) => logger.error('turn recovery failed', { sessionKey, error: error as Error }),
  });
  await cursors.put(JOB, cursor);
  metrics.addMetric(METRIC.leasesReleased, MetricUnit.Count, changed);
  if (changed > 0) logger.info('recovered stale turns', { recovered: changed });
  return { recovered: changed };
});
