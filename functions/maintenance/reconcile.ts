import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { type ReconcileReport, reconcile } from '../../lib/maintenance/reconcile.js';
import { config } from '../shared/deps/config.js';
import { threadStore } from '../shared/deps/thread-store.js';
import { threads } from '../shared/deps/threads.js';
import { turns } from '../shared/deps/turns.js';
import { logger } from '../shared/logger.js';
import { METRIC } from '../shared/metric-names.js';
import { metrics } from '../shared/metrics.js';
import { workerHandler } from '../shared/worker-handler.js';

/** Run after every deploy (CDK Trigger) and at local start: threads in line with the config, counters with the threads. */
export const handler = workerHandler(async (): Promise<ReconcileReport> => {
  const report = await reconcile(
    { config, store: threadStore, threads, turns },
    {
      onError: (error, sessionKey) =>
        logger.error('reconciliation: thread failed', { sessionKey, error: error as Error }),
    },
  );
  metrics.addMetric(METRIC.countersRepaired, MetricUnit.Count, report.countersRepaired.length);
  metrics.addMetric(METRIC.leasesReleased, MetricUnit.Count, report.leasesReleased);
  metrics.addMetric(METRIC.threadsCleaned, MetricUnit.Count, report.threadsTerminated);
  metrics.addMetric(METRIC.threadsMoved, MetricUnit.Count, report.threadsMoved);
  logger.info('reconciliation', { ...report });
  return report;
});
