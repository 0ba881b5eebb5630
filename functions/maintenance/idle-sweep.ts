import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { sweepIdleThreads, type SweepReport } from '../../lib/maintenance/idle-sweep.js';
import { config, cursors, threads, threadStore, turns } from '../shared/context.js';
import { logger } from '../shared/logger.js';
import { metrics } from '../shared/metrics.js';

const JOB = 'idle-sweep';
/** Leaves the function time to record its cursor before its own timeout. */
const BUDGET_MS = 40_000;

/** Scheduled (threadManagement.cleanupSchedule): one bounded run of the idle sweep, continuing where the last stopped. */
export async function handler(): Promise<SweepReport> {
  const report = await sweepIdleThreads({ config, store: threadStore, threads, turns }, { cursor: await cursors.get(JOB), budgetMs: BUDGET_MS, onError: (error, sessionKey) => logger.error('idle sweep: thread failed', { sessionKey, error: error as Error }) });
  await cursors.put(JOB, report.cursor);
  metrics.addMetric('ThreadsCleaned', MetricUnit.Count, report.threadsCleaned);
  metrics.addMetric('LeasesReleased', MetricUnit.Count, report.leasesReleased);
  metrics.addMetric('SweepItemsRead', MetricUnit.Count, report.itemsRead);
  metrics.addMetric('SweepDuration', MetricUnit.Milliseconds, report.durationMs);
  metrics.publishStoredMetrics();
  logger.info('idle sweep', { ...report });
  return report;
}
