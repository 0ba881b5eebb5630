import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { ROUTES } from '../../../lib/api/routes.js';
import type { Principal } from '../../../lib/auth/api-keys.js';
import { logger } from '../logger.js';
import { errorResponder } from './error-responder.js';
import { jsonBody, validate } from './parse.js';
import { principalOf } from './principal.js';
import { redactResponse } from './redact-response.js';

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** A request after the edge checks: the caller is known and every part is validated. */
export interface ApiRequest<B, Q, P> {
  principal: Principal;
  body: Parsed<B>;
  query: Parsed<Q>;
  path: Parsed<P>;
  event: APIGatewayProxyEventV2;
  context: Context;
}

type ApiResult = APIGatewayProxyStructuredResultV2;

/**
 * Builds the Lambda handler of an authenticated route: the middy chain every route shares
 * (logger context, error shape, auth, body and parameter validation) around a thin function.
 */
export function apiHandler<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, P extends z.ZodType | undefined = undefined>(
  name: string,
  schemas: { body?: B; query?: Q; path?: P },
  fn: (request: ApiRequest<B, Q, P>) => Promise<ApiResult>,
) {
  const route = ROUTES.find((candidate) => candidate.handler === name);
  if (!route || route.auth === 'none') throw new Error(`no authenticated route has handler "${name}"`);
  const auth = route.auth;
  const core = async (event: APIGatewayProxyEventV2, context: Context): Promise<ApiResult> => {
    const principal = principalOf(event, auth);
    logger.appendKeys({ tenant: principal.tenant, ...(event.pathParameters?.sessionKey ? { sessionKey: event.pathParameters.sessionKey } : {}) });
    const parse = <S extends z.ZodType | undefined>(part: 'body' | 'query' | 'path', schema: S, value: () => unknown) =>
      (schema ? validate(part, schema, value()) : undefined) as Parsed<S>;
    return fn({
      principal,
      body: parse('body', schemas.body as B, () => jsonBody(event) ?? {}),
      query: parse('query', schemas.query as Q, () => event.queryStringParameters ?? {}),
      path: parse('path', schemas.path as P, () => event.pathParameters ?? {}),
      event,
      context,
    });
  };
  return publicHandler(core);
}

/** The shared middy chain without authentication (for the health route). */
export function publicHandler(core: (event: APIGatewayProxyEventV2, context: Context) => Promise<ApiResult>) {
  return middy<APIGatewayProxyEventV2, ApiResult>(core)
    .use(redactResponse())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(errorResponder());
}
