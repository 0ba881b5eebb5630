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
