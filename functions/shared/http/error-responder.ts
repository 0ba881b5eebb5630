import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AuditCursorError } from '../../../lib/audit/query.js';
import { SecretError, type SecretErrorCode } from '../../../lib/secrets/errors.js';
import { LimitReachedError, ThreadError, type ThreadErrorCode } from '../../../lib/threads/errors.js';
import { TurnError, type TurnErrorCode } from '../../../lib/turns/errors.js';
import { logger } from '../logger.js';
import { RequestError } from './request-error.js';
import { errorResponse } from './response.js';

/** HTTP status of each domain error code: decided here, at the edge, and nowhere else. */
const THREAD_STATUS: Record<ThreadErrorCode, number> = {
  thread_not_found: 404,
  thread_exists: 409,
  thread_terminated: 409,
  conflict: 409,
  unknown_agent: 422,
  session_key_required: 400,
  invalid_session_key: 400,
  invalid_cursor: 400,
  limit_reached: 429,
};

const TURN_STATUS: Record<TurnErrorCode, number> = {
  turn_not_found: 404,
  thread_busy: 409,
  stale_turn: 409,
  agent_unavailable: 409,
  turn_limit_reached: 429,
  idempotency_key_reused: 422,
};

const SECRET_STATUS: Record<SecretErrorCode, number> = {
  unknown_secret: 404,
  secret_not_found: 404,
  secret_denied: 403,
  secret_unavailable: 503,
  rotation_refused: 409,
};

/** Seconds to wait before retrying a turn refused by a full maxConcurrentTurns: turns end in seconds. */
const TURN_RETRY_AFTER_SECONDS = 2;

/** Turns any error into the API's error shape; unknown errors become a 500 that reveals nothing. */
export function toErrorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  if (error instanceof RequestError) return errorResponse(error.status, error.code, error.message, error.details);
  if (error instanceof ThreadError) {
    const headers: Record<string, string> =
      error instanceof LimitReachedError ? { 'retry-after': String(error.retryAfterSeconds) } : {};
    return errorResponse(THREAD_STATUS[error.code], error.code, error.message, error.details, headers);
  }
  if (error instanceof TurnError) {
    const headers: Record<string, string> =
      error.code === 'turn_limit_reached' ? { 'retry-after': String(TURN_RETRY_AFTER_SECONDS) } : {};
    return errorResponse(TURN_STATUS[error.code], error.code, error.message, error.details, headers);
  }
  if (error instanceof AuditCursorError) return errorResponse(400, error.code, error.message);
  if (error instanceof SecretError)
    return errorResponse(SECRET_STATUS[error.code], error.code, error.message, error.details);
  logger.error('unhandled error', { error: error as Error });
  return errorResponse(500, 'internal_error', 'internal error', { requestId });
}

/** middy middleware: the last line of defence, so every failure leaves in the contract's shape. */
export function errorResponder(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      request.response = toErrorResponse(request.error, request.context.awsRequestId);
    },
  };
}
