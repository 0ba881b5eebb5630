import { Metrics } from '@aws-lambda-powertools/metrics';

/** The one Metrics instance of a function (CloudWatch EMF), created at cold start. */
export const metrics = new Metrics({ namespace: 'threadbound', serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'threadbound' });

/** Publishes the stored metrics, if any (Powertools warns on an empty publish, and most invocations record none). */
export function flushMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
