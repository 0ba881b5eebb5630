import { Metrics } from '@aws-lambda-powertools/metrics';

/** The one Metrics instance of a function (CloudWatch EMF), created at cold start. */
export const metrics = new Metrics({ namespace: 'threadbound', serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'threadbound' });
