import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
  PayloadFormatVersion,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES, type RouteDefinition, routeKey } from '../../lib/api/routes.js';
import type { ThreadboundFunction } from './threadbound-function.js';

/** Stage-wide throttling: a ceiling well under the account limit so one caller cannot starve the account's other APIs. */
export const DEFAULT_THROTTLE: ThrottleSettings = { rateLimit: 100, burstLimit: 200 };

// One JSON object per request. Only request metadata: no headers (the Authorization header never
// reaches the log), no bodies. The tenant comes from the authorizer's context.
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  method: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  tenant: '$context.authorizer.tenant',
  error: '$context.error.message',
};

/** Props of a {@link ThreadboundHttpApi}. */
export interface ThreadboundHttpApiProps {
  /** Handler functions by handler name (every route's handler must be present). */
  readonly handlers: ReadonlyMap<string, ThreadboundFunction>;
  /** Authorizer of every route whose auth is not "none". */
  readonly authorizer: IHttpRouteAuthorizer;
  /** @default ROUTES */
  readonly routes?: readonly RouteDefinition[];
  /** @default DEFAULT_THROTTLE */
  readonly throttle?: ThrottleSettings;
}

/**
 * The HTTP API (payload format 2.0): one route per entry of the route table, the API key
 * authorizer on every non-public route, and a $default stage with JSON access logs and throttling.
 */
export class ThreadboundHttpApi extends Construct {
  /** The HTTP API. */
  readonly api: HttpApi;
  /** The $default stage (auto-deployed). */
  readonly stage: HttpStage;
  /** Access log group of the stage. */
  readonly accessLogs: logs.LogGroup;
  /** Routes by route key, e.g. "GET /v1/threads". */
  readonly routes: ReadonlyMap<string, HttpRoute>;

  constructor(scope: Construct, id: string, props: ThreadboundHttpApiProps) {
    super(scope, id);

    // No default stage from HttpApi: it cannot take access log settings, so the stage is made below.
    this.api = new HttpApi(this, 'Api', {
      description: 'threadbound /v1 HTTP API',
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle ?? DEFAULT_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const integrations = new Map<string, HttpLambdaIntegration>();
    const routes = new Map<string, HttpRoute>();
    for (const route of props.routes ?? ROUTES) {
      const handler = props.handlers.get(route.handler);
      if (!handler) throw new Error(`no function for handler "${route.handler}" of ${routeKey(route)}`);
      let integration = integrations.get(route.handler);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${route.handler}Integration`, handler.function, {
          payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
        });
        integrations.set(route.handler, integration);
      }
      const key = routeKey(route);
      // Construct id from the route key without its slashes and braces, e.g. "GET-v1-threads-sessionKey".
      const httpRoute = new HttpRoute(this, key.replace(/[^A-Za-z0-9]+/g, '-'), {
        httpApi: this.api,
        routeKey: HttpRouteKey.with(route.path, HttpMethod[route.method]),
        integration,
        ...(route.auth === 'none' ? {} : { authorizer: props.authorizer }),
      });
      if (route.auth === 'none') {
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions::AwsSolutions-APIG4',
          reason: `${key} is public by design (route table auth "none"): an unauthenticated liveness probe whose handler has no table access and returns no tenant data.`,
        });
      }
      routes.set(key, httpRoute);
    }
    this.routes = routes;
  }
}
