import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Principal } from '../../../lib/auth/api-keys.js';
import { RequestError } from './request-error.js';

/** The context the authorizer attaches to every authorized request. */
export type AuthorizerContext =
  | { authenticated: true; tenant: string; admin: boolean; keyId: string }
  | { authenticated: false };

/**
 * The caller, from the authorizer's context. The authorizer only resolves identity; the route
 * decides, so that 401/403 leave in the API's own error shape (see docs/architecture.md).
 */
export function principalOf(event: APIGatewayProxyEventV2, auth: 'tenant' | 'admin'): Principal {
  const context = (event.requestContext as { authorizer?: { lambda?: AuthorizerContext } }).authorizer?.lambda;
  if (context?.authenticated !== true)
    throw new RequestError('unauthorized', 'a valid API key is required (Authorization: Bearer <key>)');
  if (auth === 'admin' && context.admin !== true)
    throw new RequestError('forbidden', 'this route needs an admin API key');
  return { tenant: context.tenant, admin: context.admin, keyId: context.keyId };
}
