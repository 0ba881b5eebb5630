import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { type SweepReport, sweepIdleThreads } from '../../lib/maintenance/idle-sweep.js';
import { agents } from '../shared/deps/agents.js';
import { config } from '../shared/deps/config.js';
import { cursors } from '../shared/deps/cursors.js';
import { threadStore } from '../shared/deps/thread-store.js';
import { threads } from '../shared/deps/threads.js';
import { turns } from '../shared/deps/turns.js';
import { logger } from '../shared/logger.js';
import { METRIC } from '../shared/metric-names.js';
import { emitMetric, metrics } from '../shared/metrics.js';
import { workerHandler } from '../shared/worker-handler.js';

const JOB = 'idle-sweep';
/** Leaves the function time to record its cursor before its own timeout. */
const BUDGET_MS = 40_000;

/**
 * Scheduled (threadManagement.cleanupSchedule): one bounded run of the idle sweep, continuing where
 * the last stopped; and, every run, each configured agent's utilisation of its limits.
 */
export const handler = workerHandler(async (): Promise<SweepReport> => {
  await recordUtilisation();
  const report = await sweepIdleThreads(
    { config, store: threadStore, threads, turns },
    {
      cursor: await cursors.get(JOB),
      budgetMs: BUDGET_MS,
      onError: (error, sessionKey) => logger.error('idle sweep: thread failed', { sessionKey, error: error as Error }),
    },
  );
  await cursors.put(JOB, report.cursor);
  metrics.addMetric(METRIC.threadsCleaned, MetricUnit.Count, report.threadsCleaned);
  metrics.addMetric(METRIC.leasesReleased, MetricUnit.Count, report.leasesReleased);
  metrics.addMetric(METRIC.sweepItemsRead, MetricUnit.Count, report.itemsRead);
  metrics.addMetric(METRIC.sweepDuration, MetricUnit.Milliseconds, report.durationMs);
  logger.info('idle sweep', { ...report });
  return report;
});

/**
 * The utilisation gauges (percent of maxActiveThreads and maxConcurrentTurns in use, per agent),
 * from the agent counters: one read per run, so the alarms have a data point for every agent every
 * run, traffic or not. A failed read is logged and costs the sweep nothing.
 */
async function recordUtilisation(): Promise<void> {
  try {
    const overview = await agents.overview();
    for (const agent of overview.agents) {
      emitMetric(
        METRIC.activeThreadsUtilisation,
        { agent: agent.name },
        percent(agent.utilisation.threads),
        MetricUnit.Percent,
      );
      emitMetric(
        METRIC.concurrentTurnsUtilisation,
        { agent: agent.name },
        percent(agent.utilisation.turns),
        MetricUnit.Percent,
      );
    }
  } catch (error) {
    logger.error('idle sweep: could not read the agent counters for the utilisation metrics', {
      error: error as Error,
    });
  }
}

/** A 0–1 fraction as a percentage with one decimal. */
const percent = (fraction: number) => Math.round(fraction * 1000) / 10;
