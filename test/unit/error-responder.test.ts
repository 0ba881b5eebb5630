import { describe, expect, it } from 'vitest';
import { toErrorResponse } from '../../functions/shared/http/error-responder.js';
import { RequestError } from '../../functions/shared/http/request-error.js';
import { LimitReachedError, ThreadError } from '../../lib/threads/errors.js';

const body = (response: { body?: string }) => JSON.parse(response.body ?? '{}');

describe('error responses at the edge', () => {
  it('maps domain codes to statuses in the contract shape', () => {
    const cases: [Error, number, string][] = [
      [new ThreadError('thread_not_found', 'x'), 404, 'thread_not_found'],
      [new ThreadError('thread_exists', 'x'), 409, 'thread_exists'],
      [new ThreadError('unknown_agent', 'x'), 422, 'unknown_agent'],
      [new ThreadError('session_key_required', 'x'), 400, 'session_key_required'],
      [new RequestError('payload_too_large', 'x'), 413, 'payload_too_large'],
      [new RequestError('unsupported_media_type', 'x'), 415, 'unsupported_media_type'],
      [new RequestError('forbidden', 'x'), 403, 'forbidden'],
    ];
    for (const [error, status, code] of cases) {
      const response = toErrorResponse(error, 'req-1');
      expect(response.statusCode).toBe(status);
      expect(body(response).error).toMatchObject({ code, message: 'x' });
    }
  });

  it('sends Retry-After with a full limit', () => {
    const response = toErrorResponse(new LimitReachedError('maxActiveThreads', 20, 30, 'data'), 'req-1');
    expect(response.statusCode).toBe(429);
    expect(response.headers?.['retry-after']).toBe('30');
    expect(body(response).error.details).toEqual({ limit: 'maxActiveThreads', max: 20, agent: 'data' });
  });

  it('turns any other error into a 500 that reveals nothing but the request id', () => {
    const error = new Error(
      'ResourceNotFoundException: table arn:aws:dynamodb:eu-west-1:123456789012:table/secret-table',
    );
    const response = toErrorResponse(error, 'req-42');
    expect(response.statusCode).toBe(500);
    expect(body(response)).toEqual({
      error: { code: 'internal_error', message: 'internal error', details: { requestId: 'req-42' } },
    });
  });
});
