import { Logger } from '@aws-lambda-powertools/logger';

/** The one logger of a function instance (created at cold start, Powertools style). */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'threadbound' });
