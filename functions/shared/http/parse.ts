import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import { MAX_BODY_BYTES } from '../../../lib/api/routes.js';
import { RequestError } from './request-error.js';

/** The raw JSON body of a request: size, content type and syntax checked, nothing else. */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const raw =
    event.body === undefined || event.body === null
      ? ''
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64')
        : Buffer.from(event.body, 'utf8');
  if (raw.length > MAX_BODY_BYTES) {
    throw new RequestError('payload_too_large', `the body is ${raw.length} bytes; the limit is ${MAX_BODY_BYTES}`, {
      limit: MAX_BODY_BYTES,
    });
  }
  if (raw.length === 0) return undefined;
  const contentType = event.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new RequestError('unsupported_media_type', 'the body must be JSON (Content-Type: application/json)', {
      contentType: contentType || null,
    });
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new RequestError('invalid_json', `the body is not valid JSON: ${(cause as Error).message}`);
  }
}

/** Validates one part of a request; a failure lists every problem with its field path. */
export function validate<S extends z.ZodType>(part: 'body' | 'query' | 'path', schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: [part, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  throw new RequestError(
    'validation_failed',
    `invalid request ${part}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues },
  );
}
