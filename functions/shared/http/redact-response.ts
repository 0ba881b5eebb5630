import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { processRedactor } from '../../../lib/secrets/redactor.js';
import { flushMetrics } from '../metrics.js';

/**
 * middy middleware, first in the chain so it runs last: every response body, error responses
 * included, is scrubbed of the secret values this process has seen before it leaves (and the
 * exposure-risk metrics that scrubbing counts are published with the response).
 */
export function redactResponse(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  const scrub = async (request: { response: APIGatewayProxyStructuredResultV2 | null | undefined }) => {
    if (typeof request.response?.body === 'string')
      request.response.body = processRedactor.redact(request.response.body);
    flushMetrics();
  };
  return { after: scrub, onError: scrub };
}
