import { Logger } from '@aws-lambda-powertools/logger';
import { processRedactor } from '../../lib/secrets/redactor.js';

/**
 * The one logger of a function instance (created at cold start, Powertools style). Every string of
 * every line passes the redactor, so a secret value this process has seen never reaches the logs.
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'threadbound',
  jsonReplacerFn: (_key, value) => (typeof value === 'string' ? processRedactor.redact(value) : value),
});

/** The correlation fields of a line: the tenant, thread, turn and agent it is about, where known. */
export interface Correlation {
  tenant?: string;
  sessionKey?: string;
  turnId?: string;
  agent?: string;
}

/**
 * Starts an invocation's correlation: drops whatever keys are left (an invocation cut short can
 * skip the middleware's reset) and sets these. The keys belong to the invocation: on Lambda one runs
 * per instance at a time and the middleware resets them at its end; where several run in one
 * process (the local stack, Lambda Managed Instances) Powertools keeps them per invocation.
 */
export function correlate(keys: Correlation): void {
  logger.resetKeys();
  addCorrelation(keys);
}

/** Adds correlation fields learnt during an invocation (the agent, once the thread is read). */
export function addCorrelation(keys: Correlation): void {
  const defined = Object.fromEntries(
    Object.entries(keys).filter(([, value]) => value !== undefined && value !== ''),
  ) as Record<string, string>;
  if (Object.keys(defined).length > 0) logger.appendKeys(defined);
}
