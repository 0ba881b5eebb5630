import { Tracer } from '@aws-lambda-powertools/tracer';
import type { MiddlewareObj } from '@middy/core';
import { processRedactor } from '../../lib/secrets/redactor.js';

/**
 * The one X-Ray tracer of a function instance (created at cold start, Powertools style), named like
 * the logger and the metrics. Powertools turns it off by itself outside Lambda (no
 * AWS_EXECUTION_ENV: the local stack, the tests) and when POWERTOOLS_TRACE_ENABLED is "false"; then
 * every call on it is a no-op and clients are returned unpatched.
 */
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'threadbound' });

/**
 * A middy middleware that scrubs every known secret value from the error of a failed invocation
 * (its message, stack and causes, in place) before anything else sees it. The tracer's onError
 * stores error.message and stack in the X-Ray segment, the logger prints them and the runtime
 * reports the rethrown error: none of them goes through the redactor on its own. Last in a chain, so
 * that its onError runs first (middy runs onError hooks in reverse order).
 */
export function redactErrors<E, R>(): MiddlewareObj<E, R> {
  return {
    onError: async (request) => {
      redactError(request.error);
    },
  };
}

/** Scrubs one error and its `cause` chain in place (bounded: a cause cycle stops it). */
export function redactError(error: unknown, depth = 0): void {
  if (!(error instanceof Error) || depth > 5) return;
  try {
    error.message = processRedactor.redact(error.message);
    if (error.stack) error.stack = processRedactor.redact(error.stack);
  } catch {
    // A frozen error cannot be scrubbed; nothing better to do than let it through unchanged.
  }
  redactError(error.cause, depth + 1);
}
