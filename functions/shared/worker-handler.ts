import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './logger.js';
import { publishMetrics } from './metrics.js';
import { redactErrors, tracer } from './tracer.js';

/**
 * The middy chain of every handler that is not an API route (agents, turn-control, the schedules,
 * rotation, the authorizer): an X-Ray subsegment around the handler (no response in it: replies are
 * user content), the Lambda context on every log line with the correlation keys dropped after each
 * invocation, and the stored metrics published at its end, failed or not. A failure's error is
 * scrubbed of secret values first (redactErrors, innermost so its onError runs before the tracer's),
 * so neither the segment nor the runtime's report carries one. The handler sets its correlation keys
 * itself (`correlate`), once it has parsed its event.
 */
export function workerHandler<E, R>(fn: (event: E, context: Context) => Promise<R>) {
  return middy<E, R>(fn)
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(publishMetrics<E, R>())
    .use(redactErrors<E, R>());
}
