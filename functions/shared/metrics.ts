import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import { METRICS_NAMESPACE, METRICS_SERVICE, type MetricName } from './metric-names.js';

/** The one Metrics instance of a function (CloudWatch EMF), created at cold start. */
export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? METRICS_SERVICE,
});

/** Publishes the stored metrics, if any (Powertools warns on an empty publish, and most invocations record none). */
export function flushMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * One EMF data point with its own dimensions, published at once: not mixed into the invocation's
 * other metrics, whose dimensions are shared (`service` is always added).
 */
export function emitMetric(
  name: MetricName,
  dimensions: Record<string, string>,
  value = 1,
  unit: (typeof MetricUnit)[keyof typeof MetricUnit] = MetricUnit.Count,
): void {
  const single = metrics.singleMetric();
  for (const [key, dimensionValue] of Object.entries(dimensions)) single.addDimension(key, dimensionValue);
  single.addMetric(name, unit, value);
}

/** middy middleware: publishes what the invocation stored, whether it succeeded or failed. */
export function publishMetrics<E, R>(): MiddlewareObj<E, R> {
  const publish = async () => flushMetrics();
  return { after: publish, onError: publish };
}
