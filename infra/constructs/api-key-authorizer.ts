import { Duration } from 'aws-cdk-lib';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ThreadboundFunction } from './threadbound-function.js';

/** Partition-key pattern of API key items (`APIKEY#<sha256 hex>`): all the authorizer may read. */
export const API_KEY_LEADING_KEYS = 'APIKEY#*';

/** Header the API key travels in; API Gateway answers 401 itself when it is missing. */
export const API_KEY_IDENTITY_SOURCE = '$request.header.Authorization';

/** How long API Gateway caches an authorizer answer per Authorization header value. */
export const AUTHORIZER_CACHE_TTL = Duration.minutes(5);

/** Props of an {@link ApiKeyAuthorizer}. */
export interface ApiKeyAuthorizerProps {
  readonly table: dynamodb.ITable;
  readonly configPath: string;
}

/**
 * The HTTP API Lambda authorizer (functions/authorizer/handler.ts) that resolves a bearer API key
 * to its tenant. Its role may only GetItem the API key items of the table.
 */
export class ApiKeyAuthorizer extends Construct {
  /** The authorizer's function with its role and log group. */
  readonly handler: ThreadboundFunction;
  /** The route authorizer to attach to every authenticated route. */
  readonly authorizer: HttpLambdaAuthorizer;

  constructor(scope: Construct, id: string, props: ApiKeyAuthorizerProps) {
    super(scope, id);

    this.handler = new ThreadboundFunction(this, 'Handler', {
      entry: 'functions/authorizer/handler.ts',
      configPath: props.configPath,
      tableName: props.table.tableName,
      description: 'threadbound API key authorizer',
      // One GetItem: fail fast rather than hold the request.
      timeout: Duration.seconds(5),
    });

    // Not grantReadData: the authorizer reads one item by key, and only API key items. The
    // LeadingKeys condition confines it to partition keys starting with APIKEY#, so a bug in the
    // authorizer cannot read threads, messages or audit entries.
    this.handler.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [props.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [API_KEY_LEADING_KEYS] } },
      }),
    );

    // The authorizer only resolves identity and always allows (context.authenticated says whether
    // the key was valid); the route's middleware answers 401/403 in the API's own error shape,
    // which API Gateway HTTP APIs cannot produce for authorizer denials.
    this.authorizer = new HttpLambdaAuthorizer('ApiKeyAuthorizer', this.handler.function, {
      authorizerName: 'api-key',
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      identitySource: [API_KEY_IDENTITY_SOURCE],
      resultsCacheTtl: AUTHORIZER_CACHE_TTL,
    });
  }
}
