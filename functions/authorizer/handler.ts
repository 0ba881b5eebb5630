import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { authenticate } from '../../lib/auth/api-keys.js';
import { apiKeyStore } from '../shared/deps/api-keys.js';
import type { AuthorizerContext } from '../shared/http/principal.js';
import { workerHandler } from '../shared/worker-handler.js';

/**
 * HTTP API Lambda authorizer (simple responses). It resolves the bearer key to its tenant and
 * passes that on; the route answers 401/403 itself so those leave in the API's error shape.
 */
export const handler = workerHandler(
  async (
    event: APIGatewayRequestAuthorizerEventV2,
  ): Promise<APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext>> => {
    const principal = await authenticate(apiKeyStore, event.headers?.authorization ?? event.identitySource?.[0]);
    return {
      isAuthorized: true,
      context: principal ? { authenticated: true, ...principal } : { authenticated: false },
    };
  },
);
