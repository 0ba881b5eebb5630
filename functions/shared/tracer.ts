import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * The one X-Ray tracer of a function instance (created at cold start, Powertools style), named like
 * the logger and the metrics. Powertools turns it off by itself outside Lambda (no
 * AWS_EXECUTION_ENV: the local stack, the tests) and when POWERTOOLS_TRACE_ENABLED is "false"; then
 * every call on it is a no-op and clients are returned unpatched.
 */
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'threadbound' });

