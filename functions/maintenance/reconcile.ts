import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { reconcile, type ReconcileReport } from '../../lib/maintenance/reconcile.js';
import { config, threads, threadStore, turns } from '../shared/context.js';
import { logger } from '../shared/logger.js';
import { metrics } from '../shared/metrics.js';

/** Run after every deploy (CDK Trigger) and at local start: threads in line with the config, counters with the threads. */
export async function handler(): Promise<ReconcileReport> {
  const report = await reconcile({ config, store: threadStore, threads, turns }, { onError: (error, sessionKey) => logger.error('reconciliation: thread failed', { sessionKey, error: error as Error }) });
  metrics.addMetric('CountersRepaired', MetricUnit.Count, report.countersRepaired.length);
  metrics.addMetric('LeasesReleased', MetricUnit.Count, report.leasesReleased);
  metrics.addMetric('ThreadsCleaned', MetricUnit.Count, report.threadsTerminated);
  metrics.addMetric('ThreadsMoved', MetricUnit.Count, report.threadsMoved);
  metrics.publishStoredMetrics();
  logger.info('reconciliation', { ...report });
  return report;
}
