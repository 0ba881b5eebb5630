import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { ROUTES } from '../../../lib/api/routes.js';
import type { Principal } from '../../../lib/auth/api-keys.js';
import { correlate, logger } from '../logger.js';
import { redactErrors, tracer } from '../tracer.js';
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
export function apiHandler<
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  P extends z.ZodType | undefined = undefined,
>(name: string, schemas: { body?: B; query?: Q; path?: P }, fn: (request: ApiRequest<B, Q, P>) => Promise<ApiResult>) {
  const route = ROUTES.find((candidate) => candidate.handler === name);
  if (!route || route.auth === 'none') throw new Error(`no authenticated route has handler "${name}"`);
  const auth = route.auth;
  const core = async (event: APIGatewayProxyEventV2, context: Context): Promise<ApiResult> => {
    const principal = principalOf(event, auth);
    // Every line of this request names the caller's tenant and, for a thread's routes, the thread
    // (and turn); handlers add the agent once they know it (addCorrelation).
    correlate({
      tenant: principal.tenant,
      sessionKey: event.pathParameters?.sessionKey,
      turnId: event.pathParameters?.turnId,
    });
    const parse = <S extends z.ZodType | undefined>(part: 'body' | 'query' | 'path', schema: S, value: () => unknown) =>
      (schema ? validate(part, schema, value()) : undefined) as Parsed<S>;
    return fn({
      principal,
      // Only a missing body stands for {}: a JSON `null` body is a value, and the schema refuses it.
      body: parse('body', schemas.body as B, () => emptyAsObject(jsonBody(event))),
      query: parse('query', schemas.query as Q, () => event.queryStringParameters ?? {}),
      path: parse('path', schemas.path as P, () => event.pathParameters ?? {}),
      event,
      context,
    });
  };
  return publicHandler(core);
}

/** The shared middy chain without authentication (for the health route); every route's chain ends here. */
export function publicHandler(core: (event: APIGatewayProxyEventV2, context: Context) => Promise<ApiResult>) {
  return (
    middy<APIGatewayProxyEventV2, ApiResult>(core)
      .use(traceRequest())
      .use(redactResponse())
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(accessLog())
      .use(errorResponder())
      // Innermost, so its onError runs first: the error is scrubbed before errorResponder logs it
      // and before traceRequest stores its message and stack in the X-Ray segment.
      .use(redactErrors())
  );
}

type Middleware = MiddlewareObj<APIGatewayProxyEventV2, ApiResult>;

/**
 * The X-Ray subsegment of the request (no response body in it: it is user content). First in the
 * chain so that its error hook runs after errorResponder: a refused request (4xx) closes the
 * subsegment as a normal answer, only a 5xx marks it as an error.
 */
function traceRequest(): Middleware {
  const capture = captureLambdaHandler(tracer, { captureResponse: false }) as Required<Middleware>;
  return {
    before: capture.before,
    after: capture.after,
    onError: async (request) =>
      (request.response?.statusCode ?? 500) < 500 ? capture.after(request) : capture.onError(request),
  };
}

/**
 * One line per request, with its correlation keys (before the logger middleware drops them): the
 * route, the status, how long it took. After errorResponder, so a refused request logs its status.
 */
function accessLog(): Middleware {
  const started = new WeakMap<object, number>();
  const log = async (request: {
    event: APIGatewayProxyEventV2;
    response: ApiResult | null | undefined;
    context: Context;
  }) => {
    const status = request.response?.statusCode ?? 500;
    const fields = {
      route: request.event.routeKey,
      status,
      durationMs: Date.now() - (started.get(request.event) ?? Date.now()),
    };
    if (status >= 500) logger.error('request', fields);
    else logger.info('request', fields);
  };
  return {
    before: async (request) => {
      started.set(request.event, Date.now());
    },
    after: log,
    onError: log,
  };
}

/** An absent body as the empty object the schemas expect; any parsed JSON value (null included) as is. */
function emptyAsObject(body: unknown): unknown {
  return body === undefined ? {} : body;
}
