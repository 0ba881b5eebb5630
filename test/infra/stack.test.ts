import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IDLE_SWEEP_MAX_EVENT_AGE,
  IDLE_SWEEP_RETRY_ATTEMPTS,
  IDLE_SWEEP_TIMEOUT,
} from '../../infra/constructs/idle-sweep.js';
import {
  DEPLOY_NONCE_CONTEXT,
  DEPLOY_NONCE_PROPERTY,
  RECONCILE_TIMEOUT,
  RECONCILE_TRIGGER_TIMEOUT,
  type StartupReconciliation,
} from '../../infra/constructs/startup-reconciliation.js';
import type { ThreadboundFunction } from '../../infra/constructs/threadbound-function.js';
import { FUNCTION_RUNTIME, UNREACHED_SDK_MODULES } from '../../infra/constructs/threadbound-function.js';
import {
  TURN_RECOVERY_MAX_EVENT_AGE,
  TURN_RECOVERY_RETRY_ATTEMPTS,
  TURN_RECOVERY_SCHEDULE,
  TURN_RECOVERY_TIMEOUT,
} from '../../infra/constructs/turn-recovery.js';
import {
  EXECUTION_ENDED_DLQ_RETENTION,
  EXECUTION_ENDED_MAX_EVENT_AGE,
  EXECUTION_ENDED_RETRY_ATTEMPTS,
  TURN_CONTROL_ASYNC_RETRY_ATTEMPTS,
} from '../../infra/constructs/turn-workflow.js';
import type { ThreadboundStack } from '../../infra/stacks/threadbound-stack.js';
import { TABLE } from '../../lib/adapters/dynamodb/table-definition.js';
import { ROUTES, type RouteDefinition, routeKey } from '../../lib/api/routes.js';
import { durationSeconds } from '../../lib/config/duration.js';
import { TURN_WORKFLOW_FILE } from '../../lib/workflows/turn-workflow.js';
import {
  actionsOf,
  CONFIG_PATH,
  type Json,
  readReport,
  removeTempOutdirs,
  resourcesOf,
  type Statement,
  statementsOfRole as statementsInTemplate,
  suppressed,
  synthApp,
  tempOutdir,
  unacknowledged,
} from '../support/infra.js';

// CDK template assertions and cdk-nag for the real app. The app is synthesized ONCE (beforeAll):
// every synth bundles every function with esbuild.

/** A fixed deploy nonce keeps the template deterministic (`cdk deploy` uses the synth time). */
const TEST_NONCE = 'test-nonce-1';

const WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:TransactWriteItems',
  'dynamodb:PartiQLInsert',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
];

let outdir: string;
let stack: ThreadboundStack;
let template: Template;
let synthError: unknown;

const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const handlers = () => [...new Set(ROUTES.map((route) => route.handler))];
/** The startup reconciliation (the repository config enables it). */
const reconciliation = (): StartupReconciliation => {
  expect(stack.startupReconciliation).toBeDefined();
  return stack.startupReconciliation!;
};
/** The maintenance functions: turn recovery, the idle sweep and the startup reconciliation. */
const maintenanceFunctions = (): ThreadboundFunction[] => [
  stack.turnRecovery.handler,
  stack.idleSweep.handler,
  reconciliation().handler,
];
/** The secret rotation Lambda (the repository config rotates anthropic-api-key). */
const rotationFunction = (): ThreadboundFunction => {
  expect(stack.secrets.rotation).toBeDefined();
  return stack.secrets.rotation!.handler;
};
/**
 * Every threadbound Lambda of the stack: the authorizer, the route handlers, the agents,
 * turn-control, the maintenance functions and the secret rotation. (The one other function is the
 * CDK Trigger's provider, checked on its own.)
 */
const allFunctions = (): ThreadboundFunction[] => [
  stack.authorizer.handler,
  ...stack.handlers.functions.values(),
  ...stack.turnWorkflow.agents.values(),
  stack.turnWorkflow.turnControl,
  ...maintenanceFunctions(),
  rotationFunction(),
];

/** Every statement of every IAM policy attached to the role with this logical id. */
const statementsOfRole = (roleLogicalId: string): Statement[] => statementsInTemplate(template, roleLogicalId);

beforeAll(() => {
  // synthError is kept for the cdk-nag test, which shows the report; the other tests fail on their own.
  ({ outdir, stack, template, synthError } = synthApp({ context: { [DEPLOY_NONCE_CONTEXT]: TEST_NONCE } }));
});

afterAll(removeTempOutdirs);

describe('HTTP API', () => {
  it('has exactly one route per entry of the route table', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
    const keys = routes.map((route) => route.Properties.RouteKey as string);
    expect(new Set(keys)).toEqual(new Set(ROUTES.map(routeKey)));
    expect(keys).toHaveLength(ROUTES.length);
  });

  it('puts the API key authorizer on every non-public route and none on public ones', () => {
    const authorizerId = logicalId(stack.httpApi.api.node.findChild('ApiKeyAuthorizer'));
    const byKey = new Map(
      Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((route) => [
        route.Properties.RouteKey as string,
        route.Properties as Json,
      ]),
    );
    for (const route of ROUTES) {
      const properties = byKey.get(routeKey(route));
      if (route.auth === 'none') {
        expect(properties?.AuthorizationType ?? 'NONE', routeKey(route)).toBe('NONE');
        expect(properties?.AuthorizerId, routeKey(route)).toBeUndefined();
      } else {
        expect(properties?.AuthorizationType, routeKey(route)).toBe('CUSTOM');
        expect(properties?.AuthorizerId, routeKey(route)).toEqual({ Ref: authorizerId });
      }
    }
    expect(ROUTES.some((route) => route.path === '/v1/health' && route.auth === 'none')).toBe(true);
  });

  it('sends each route to its own handler with payload format 2.0', () => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    for (const route of ROUTES) {
      const [, properties] = Object.entries(
        template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: routeKey(route) } }),
      )[0]!;
      const integrationId = (properties.Properties.Target['Fn::Join'][1] as Json[])[1]!.Ref as string;
      const integration = integrations[integrationId]!.Properties as Json;
      expect(integration.IntegrationType).toBe('AWS_PROXY');
      expect(integration.PayloadFormatVersion).toBe('2.0');
      expect(integration.IntegrationUri).toEqual({
        'Fn::GetAtt': [logicalId(stack.handlers.functions.get(route.handler)!.function), 'Arn'],
      });
    }
  });

  it('uses a simple-response Lambda authorizer on the Authorization header, cached 5 minutes', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.header.Authorization'],
      AuthorizerResultTtlInSeconds: 300,
      AuthorizerUri: {
        'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [logicalId(stack.authorizer.handler.function), 'Arn'] }])],
      },
    });
  });

  it('has a $default stage with JSON access logs and throttling', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logicalId(stack.httpApi.accessLogs), 'Arn'] },
        Format: Match.anyValue(),
      },
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
    });
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!.Properties as Json;
    const format = JSON.parse(stage.AccessLogSettings.Format as string) as Record<string, string>;
    expect(format.requestId).toBe('$context.requestId');
    expect(Object.values(format).join(' ')).not.toMatch(/header/i);
    expect(stage.DefaultRouteSettings.ThrottlingRateLimit).toBeGreaterThan(0);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: Match.anyValue() });
  });

  it('outputs the API URL, the table name and the state machine ARN', () => {
    template.hasOutput('ApiUrl', { Value: Match.anyValue() });
    template.hasOutput('TableName', { Value: { Ref: logicalId(stack.table.table) } });
    template.hasOutput('StateMachineArn', { Value: { Ref: logicalId(stack.turnWorkflow.stateMachine) } });
  });
});

describe('Lambda functions', () => {
  it('has one function per distinct route handler, the authorizer, one per agent, turn-control, the three maintenance functions, the secret rotation and the Trigger provider', () => {
    template.resourceCountIs(
      'AWS::Lambda::Function',
      handlers().length + 1 + Object.keys(stack.config.agents).length + 1 + 3 + 1 + 1,
    );
    expect(new Set(Object.keys(template.findResources('AWS::Lambda::Function')))).toEqual(
      new Set([
        ...allFunctions().map((fn) => logicalId(fn.function)),
        stack.resolve(reconciliation().provider.function.logicalId) as string,
      ]),
    );
    expect([...stack.handlers.functions.keys()].sort()).toEqual(handlers().sort());
    expect([...stack.turnWorkflow.agents.keys()].sort()).toEqual(Object.keys(stack.config.agents).sort());
  });

  it('gives each route handler the longest timeout of its routes (10 s by default)', () => {
    for (const [handler, fn] of stack.handlers.functions) {
      const declared = (ROUTES as readonly RouteDefinition[])
        .filter((route) => route.handler === handler)
        .map((route) => route.timeoutSeconds ?? 10);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
        Timeout: Math.max(...declared),
      });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(stack.handlers.functions.get('turns-get')!.role), 'Arn'] },
      Timeout: 29,
    });
  });

  it('runs every threadbound function on arm64, the newest Node.js runtime, with active tracing', () => {
    const newestNode = Runtime.ALL.filter((runtime) => /^nodejs\d/.test(runtime.name))
      .map((runtime) => runtime.name)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      .at(-1);
    expect(FUNCTION_RUNTIME.name).toBe(newestNode);
    for (const fn of allFunctions()) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
        Architectures: ['arm64'],
        Runtime: FUNCTION_RUNTIME.name,
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
        MemorySize: Match.anyValue(),
        Timeout: Match.anyValue(),
        LoggingConfig: { LogGroup: { Ref: Match.anyValue() } },
        Environment: {
          Variables: {
            TABLE_NAME: { Ref: logicalId(stack.table.table) },
            THREADBOUND_CONFIG: '/var/task/threadbound.config.json',
            POWERTOOLS_SERVICE_NAME: 'threadbound',
            // Source maps are not loaded at run time: they cost a large share of module init.
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
    }
  });

  it('bundles each threadbound function as ESM with the config file beside it', () => {
    for (const fn of allFunctions().map(
      (candidate) => template.toJSON().Resources[logicalId(candidate.function)] as Json,
    )) {
      // The code's S3 key is the asset hash; the assembly holds the bundle as asset.<hash>/.
      const asset = join(outdir, `asset.${(fn.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`);
      expect(existsSync(join(asset, 'index.mjs')), asset).toBe(true);
      expect(existsSync(join(asset, 'index.mjs.map')), asset).toBe(true);
      const config = JSON.parse(readFileSync(join(asset, 'threadbound.config.json'), 'utf8')) as Json;
      expect(config).toEqual(JSON.parse(readFileSync(CONFIG_PATH, 'utf8')));
    }
  });

  it('gives every function its own log group with a retention (names only where the workflow needs them)', () => {
    const agentNames = new Map(
      [...stack.turnWorkflow.agents].map(([agent, fn]) => [fn, `${stack.turnWorkflow.agentFunctionPrefix}${agent}`]),
    );
    for (const fn of allFunctions()) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: agentNames.get(fn) ?? Match.absent(),
        Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
        LoggingConfig: { LogGroup: { Ref: logicalId(fn.logGroup) } },
      });
      expect(template.toJSON().Resources[logicalId(fn.logGroup)].Properties.RetentionInDays).toBe(30);
    }
  });
});

describe('least privilege', () => {
  it('uses a dedicated role per function (and one for the state machine, one for the Trigger provider) and no AWS managed policies', () => {
    template.resourceCountIs('AWS::IAM::Role', allFunctions().length + 2);
    template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    const roles = template.findResources('AWS::IAM::Role');
    const stateMachineRole = logicalId(stack.turnWorkflow.stateMachine.role);
    const providerRole = stack.resolve(reconciliation().provider.role.logicalId) as string;
    expect(new Set(allFunctions().map((fn) => logicalId(fn.role)))).toEqual(
      new Set(Object.keys(roles).filter((id) => id !== stateMachineRole && id !== providerRole)),
    );
    for (const fn of allFunctions()) {
      expect(roles[logicalId(fn.role)]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
    expect(roles[stateMachineRole]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'states.amazonaws.com' },
      }),
    ]);
  });

  it('lets a function write only to its own log group', () => {
    for (const fn of allFunctions()) {
      const logStatements = statementsOfRole(logicalId(fn.role)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('logs:')),
      );
      expect(logStatements).toHaveLength(1);
      expect(actionsOf(logStatements[0]!).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect(logStatements[0]!.Resource).toEqual({ 'Fn::GetAtt': [logicalId(fn.logGroup), 'Arn'] });
    }
  });

  it('allows "*" resources only for the X-Ray actions, which have no resource-level permissions', () => {
    for (const fn of allFunctions()) {
      for (const statement of statementsOfRole(logicalId(fn.role))) {
        expect(actionsOf(statement).some((action) => action.includes('*'))).toBe(false);
        if (resourcesOf(statement).includes('*'))
          expect(actionsOf(statement).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      }
    }
  });

  it('grants each route handler exactly the table access its routes declare', () => {
    const tableArn = { 'Fn::GetAtt': [logicalId(stack.table.table), 'Arn'] };
    for (const route of ROUTES) {
      const fn = stack.handlers.functions.get(route.handler)!;
      const statements = statementsOfRole(logicalId(fn.role)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
      );
      const actions = statements.flatMap(actionsOf);
      for (const statement of statements) {
        expect(statement.Effect).toBe('Allow');
        for (const resource of resourcesOf(statement)) {
          expect([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }], route.handler).toContainEqual(resource);
        }
      }
      if (route.table === 'none') expect(actions, route.handler).toEqual([]);
      if (route.table === 'read') {
        expect(actions, route.handler).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
        for (const write of WRITE_ACTIONS) expect(actions, route.handler).not.toContain(write);
      }
      if (route.table === 'write') {
        expect(actions, route.handler).toEqual(
          expect.arrayContaining([
            'dynamodb:GetItem',
            'dynamodb:Query',
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:DeleteItem',
          ]),
        );
      }
    }
    expect(ROUTES.some((route) => route.table === 'read')).toBe(true);
  });

  it('gives the agents, turn-control, the maintenance functions and the secret rotation read/write table access', () => {
    const tableArn = { 'Fn::GetAtt': [logicalId(stack.table.table), 'Arn'] };
    for (const fn of [
      ...stack.turnWorkflow.agents.values(),
      stack.turnWorkflow.turnControl,
      ...maintenanceFunctions(),
      rotationFunction(),
    ]) {
      const statements = statementsOfRole(logicalId(fn.role)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
      );
      expect(statements.flatMap(actionsOf), fn.node.path).toEqual(
        expect.arrayContaining([
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
        ]),
      );
      for (const resource of statements.flatMap(resourcesOf))
        expect([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }], fn.node.path).toContainEqual(resource);
    }
  });

  it('lets the authorizer only GetItem API key items (LeadingKeys APIKEY#*)', () => {
    const statements = statementsOfRole(logicalId(stack.authorizer.handler.role)).filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
    );
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: { 'Fn::GetAtt': [logicalId(stack.table.table), 'Arn'] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['APIKEY#*'] } },
      },
    ]);
  });
});

describe('table', () => {
  it('is built from TABLE: keys, on-demand, PITR, encryption at rest, TTL', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
    });
  });

  it('has exactly the global secondary indexes of TABLE, projecting ALL', () => {
    const indexes = Object.values(TABLE.indexes);
    const table = Object.values(template.findResources('AWS::DynamoDB::Table'))[0]!.Properties as Json;
    expect(table.GlobalSecondaryIndexes).toHaveLength(indexes.length);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith(
        indexes.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      ),
    });
    const keyNames = [
      TABLE.partitionKey,
      TABLE.sortKey,
      ...indexes.flatMap((index) => [index.partitionKey, index.sortKey]),
    ];
    expect(table.AttributeDefinitions).toEqual(keyNames.map((name) => ({ AttributeName: name, AttributeType: 'S' })));
  });

  it('is retained (and deletion protected) when the stack goes away', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
  });
});

describe('turn workflow', () => {
  const asl = JSON.parse(readFileSync(TURN_WORKFLOW_FILE, 'utf8')) as Json;
  /** Every state name of an ASL definition, nested Map/Parallel states included. */
  const stateNames = (definition: Json): string[] =>
    Object.entries(definition.States as Record<string, Json>).flatMap(([name, state]) => [
      name,
      ...(state.ItemProcessor ? stateNames(state.ItemProcessor as Json) : []),
      ...(state.Iterator ? stateNames(state.Iterator as Json) : []),
      ...((state.Branches as Json[] | undefined) ?? []).flatMap(stateNames),
    ]);
  const stateMachine = () =>
    Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties as Json;
  /** The definition as CloudFormation receives it (a plain string, or an Fn::Join of literal parts and tokens). */
  const definitionText = () => {
    const definition = stateMachine().DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
    return typeof definition === 'string'
      ? definition
      : definition['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
  };
  const formattedArn = () => stack.resolve(stack.turnWorkflow.stateMachineArn) as unknown;
  const canStartExecution = (fn: ThreadboundFunction) =>
    statementsOfRole(logicalId(fn.role)).some((statement) =>
      actionsOf(statement).some((action) => action.startsWith('states:')),
    );

  it('is one Standard state machine built from lib/workflows/turn.asl.json', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    const names = stateNames(asl);
    expect(names).toEqual(
      expect.arrayContaining(['MainAgent', 'FanOut', 'SubAgent', 'Coalesce', 'Complete', 'RecordFailure']),
    );
    const text = definitionText();
    for (const name of names) expect(text, name).toContain(JSON.stringify(name));
    // No token inside: the file travels as it is and CloudFormation fills the ${…} placeholders.
    expect(JSON.parse(stateMachine().DefinitionString as string)).toEqual(asl);
    expect(stateMachine().StateMachineType).toBe('STANDARD');
    expect(stateMachine().StateMachineName).toBe(stack.turnWorkflow.stateMachineName);
  });

  it('substitutes exactly AgentFunctionPrefix and TurnControlFunctionArn', () => {
    expect(stateMachine().DefinitionSubstitutions).toEqual({
      AgentFunctionPrefix: stack.turnWorkflow.agentFunctionPrefix,
      TurnControlFunctionArn: { 'Fn::GetAtt': [logicalId(stack.turnWorkflow.turnControl.function), 'Arn'] },
    });
    expect(stack.turnWorkflow.agentFunctionPrefix).toBe(`${stack.stackName}-agent-`);
  });

  it('logs ALL events with execution data to its own log group and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: true,
        Destinations: [
          {
            CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logicalId(stack.turnWorkflow.logGroup), 'Arn'] } },
          },
        ],
      },
      TracingConfiguration: { Enabled: true },
    });
    expect(template.toJSON().Resources[logicalId(stack.turnWorkflow.logGroup)].Properties.RetentionInDays).toBe(30);
  });

  it('has one Lambda per configured agent, named <prefix><agent>, with AGENT_NAME and a timeout covering the agent timeout', () => {
    for (const [agent, config] of Object.entries(stack.config.agents)) {
      const fn = stack.turnWorkflow.agents.get(agent)!;
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `${stack.turnWorkflow.agentFunctionPrefix}${agent}`,
        Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
        Environment: { Variables: { AGENT_NAME: agent } },
        Timeout: Math.min(durationSeconds(config.timeout) + 10, 900),
      });
      expect(`${stack.turnWorkflow.agentFunctionPrefix}${agent}`.length).toBeLessThanOrEqual(64);
    }
  });

  it('lets the state machine invoke exactly the agent Lambdas and turn-control', () => {
    const statements = statementsOfRole(logicalId(stack.turnWorkflow.stateMachine.role));
    const invoke = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('lambda:')),
    );
    expect(invoke.flatMap(actionsOf)).toEqual(['lambda:InvokeFunction']);
    const expected = [...stack.turnWorkflow.agents.values(), stack.turnWorkflow.turnControl].map((fn) => ({
      'Fn::GetAtt': [logicalId(fn.function), 'Arn'],
    }));
    expect(invoke.flatMap(resourcesOf)).toHaveLength(expected.length);
    expect(invoke.flatMap(resourcesOf)).toEqual(expect.arrayContaining(expected));
    // Everything else on the role is the "*" that logging and tracing need (no resource-level permissions).
    for (const statement of statements.filter((candidate) => !invoke.includes(candidate))) {
      expect(statement.Resource).toBe('*');
      for (const action of actionsOf(statement))
        expect(action).toMatch(
          /^(logs:(Create|Get|Update|Delete|List)LogDeliver(y|ies)|logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)|xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets))$/,
        );
    }
  });

  it('lets startsTurns routes, turn-control and the maintenance functions (only) start executions of this state machine, and tells them its ARN', () => {
    // The ARN is formatted from the explicit name (see TurnWorkflow): it must name this state machine.
    expect(JSON.stringify(formattedArn())).toContain(`:stateMachine:${stateMachine().StateMachineName as string}"`);
    const starters = [...stack.handlers.turnStarters].map((handler) => stack.handlers.functions.get(handler)!);
    expect([...stack.handlers.turnStarters].sort()).toEqual(
      [
        ...new Set(
          (ROUTES as readonly RouteDefinition[])
            .filter((route) => route.startsTurns === true)
            .map((route) => route.handler),
        ),
      ].sort(),
    );
    expect(starters.length).toBeGreaterThan(0);
    const others = [stack.turnWorkflow.turnControl, ...maintenanceFunctions()];
    for (const fn of [...starters, ...others]) {
      const statements = statementsOfRole(logicalId(fn.role)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('states:')),
      );
      expect(statements, fn.node.path).toEqual([
        { Effect: 'Allow', Action: 'states:StartExecution', Resource: formattedArn() },
      ]);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
        Environment: { Variables: { STATE_MACHINE_ARN: formattedArn() } },
      });
    }
    for (const fn of allFunctions().filter(
      (candidate) => !starters.includes(candidate) && !others.includes(candidate),
    )) {
      expect(canStartExecution(fn), fn.node.path).toBe(false);
      const variables = template.toJSON().Resources[logicalId(fn.function)].Properties.Environment.Variables as Json;
      expect(variables.STATE_MACHINE_ARN, fn.node.path).toBeUndefined();
    }
  });

  it('lets no function invoke a Lambda (only the state machine and the Trigger provider do), but secrets-rotate the rotation Lambda', () => {
    // RotateSecret's caller needs lambda:InvokeFunction on the rotation function (API reference).
    const rotator = stack.handlers.functions.get('secrets-rotate')!;
    for (const fn of allFunctions()) {
      const statements = statementsOfRole(logicalId(fn.role)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('lambda:')),
      );
      const expected =
        fn === rotator
          ? [
              {
                Effect: 'Allow',
                Action: 'lambda:InvokeFunction',
                Resource: { 'Fn::GetAtt': [logicalId(rotationFunction().function), 'Arn'] },
              },
            ]
          : [];
      expect(statements, fn.node.path).toEqual(expected);
    }
  });

  // CDK's own template validation (@aws-cdk/core:validateAgainstDefaultRules, rule F3004) already
  // fails synth on a cycle; this test says which edges matter and does not depend on that flag.
  it('has no circular dependency between resources (Ref, Fn::GetAtt, Fn::Sub, DependsOn)', () => {
    const resources = template.toJSON().Resources as Record<string, Json>;
    const dependencies = (value: unknown, into: Set<string>): Set<string> => {
      if (Array.isArray(value)) for (const item of value) dependencies(item, into);
      else if (value !== null && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === 'Ref' && typeof inner === 'string') into.add(inner);
          else if (key === 'Fn::GetAtt')
            into.add(Array.isArray(inner) ? (inner[0] as string) : String(inner).split('.')[0]!);
          else if (key === 'Fn::Sub')
            for (const match of JSON.stringify(inner).matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) into.add(match[1]!);
          else dependencies(inner, into);
        }
      }
      return into;
    };
    const graph = new Map(
      Object.entries(resources).map(([id, resource]) => {
        const edges = dependencies(resource.Properties, new Set<string>());
        for (const dependsOn of [resource.DependsOn ?? []].flat() as string[]) edges.add(dependsOn);
        return [id, [...edges].filter((target) => target in resources)];
      }),
    );
    // Depth-first search: a node met again while still on the path closes a cycle.
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[][] = [];
    const visit = (id: string, path: string[]) => {
      if (state.get(id) === 'done') return;
      if (state.get(id) === 'visiting') return void cycles.push([...path.slice(path.indexOf(id)), id]);
      state.set(id, 'visiting');
      for (const target of graph.get(id)!) visit(target, [...path, id]);
      state.set(id, 'done');
    };
    for (const id of graph.keys()) visit(id, []);
    expect(cycles).toEqual([]);
    // The edges that would close the cycle are real: the state machine depends on turn-control ...
    const machine = logicalId(stack.turnWorkflow.stateMachine);
    expect(graph.get(machine)).toContain(logicalId(stack.turnWorkflow.turnControl.function));
    // ... and turn-control's environment and policy name the state machine without referencing it.
    expect(JSON.stringify(resources[logicalId(stack.turnWorkflow.turnControl.function)])).not.toContain(machine);
  });
});

describe('stuck-turn backstops', () => {
  const stateMachineRef = () => ({ Ref: logicalId(stack.turnWorkflow.stateMachine) });
  const queueArn = () => ({ 'Fn::GetAtt': [logicalId(stack.turnWorkflow.executionEndedDeadLetters), 'Arn'] });
  const functionArn = (fn: ThreadboundFunction) => ({ 'Fn::GetAtt': [logicalId(fn.function), 'Arn'] });
  const ruleArn = (rule: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [logicalId(rule), 'Arn'] });

  it('has exactly three EventBridge rules, all on the default bus: execution-ended, the recovery schedule and the idle sweep schedule', () => {
    template.resourceCountIs('AWS::Events::Rule', 3);
    template.allResourcesProperties('AWS::Events::Rule', { EventBusName: Match.absent(), State: 'ENABLED' });
  });

  it("matches only this state machine's executions that ended FAILED, TIMED_OUT or ABORTED", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectEquals({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [stateMachineRef()] },
      }),
    });
    const rule = template.toJSON().Resources[logicalId(stack.turnWorkflow.executionEndedRule)].Properties as Json;
    expect(rule.EventPattern.detail.status).not.toContain('SUCCEEDED');
    expect(rule.ScheduleExpression).toBeUndefined();
  });

  it('sends the event unchanged to turn-control, with a retry policy and the dead-letter queue', () => {
    const rule = template.toJSON().Resources[logicalId(stack.turnWorkflow.executionEndedRule)].Properties as Json;
    // objectEquals: no Input, InputPath or InputTransformer, so turn-control gets the event as it is.
    expect(rule.Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: functionArn(stack.turnWorkflow.turnControl),
        RetryPolicy: {
          MaximumRetryAttempts: EXECUTION_ENDED_RETRY_ATTEMPTS,
          MaximumEventAgeInSeconds: EXECUTION_ENDED_MAX_EVENT_AGE.toSeconds(),
        },
        DeadLetterConfig: { Arn: queueArn() },
      },
    ]);
    // Delivery is tried for longer than the longest lease (3 × the 15-minute agent limit + 5 s grace).
    expect(EXECUTION_ENDED_MAX_EVENT_AGE.toSeconds()).toBeGreaterThan(3 * 900 + 5);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: functionArn(stack.turnWorkflow.turnControl),
      Principal: 'events.amazonaws.com',
      SourceArn: ruleArn(stack.turnWorkflow.executionEndedRule),
    });
  });

  it('has an encrypted, TLS-only dead-letter queue that only the rule (and turn-control) may send to', () => {
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: EXECUTION_ENDED_DLQ_RETENTION.toSeconds(),
      KmsMasterKeyId: Match.absent(),
    });
    template.resourceCountIs('AWS::SQS::QueuePolicy', 1);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack.turnWorkflow.executionEndedDeadLetters) }],
      PolicyDocument: {
        Statement: Match.arrayEquals([
          {
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Resource: queueArn(),
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
          {
            Sid: Match.anyValue(),
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'events.amazonaws.com' },
            Resource: queueArn(),
            Condition: { ArnEquals: { 'aws:SourceArn': ruleArn(stack.turnWorkflow.executionEndedRule) } },
          },
        ]),
      },
    });
  });

  it("makes the queue turn-control's own dead-letter queue for the events it still fails on after Lambda's retries", () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(stack.turnWorkflow.turnControl.role), 'Arn'] },
      DeadLetterConfig: { TargetArn: queueArn() },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack.turnWorkflow.turnControl.function) },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: TURN_CONTROL_ASYNC_RETRY_ATTEMPTS,
    });
    // Only turn-control may write to the queue, and only SendMessage to this queue.
    for (const fn of allFunctions()) {
      const sqsStatements = statementsOfRole(logicalId(fn.role)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('sqs:')),
      );
      expect(sqsStatements, fn.node.path).toEqual(
        fn === stack.turnWorkflow.turnControl
          ? [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArn() }]
          : [],
      );
    }
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { DeadLetterConfig: Match.anyValue() }, 1);
  });

  it('runs turn recovery on its own schedule, TURN_RECOVERY_SCHEDULE (rate(1 minute)), not the cleanup schedule', () => {
    expect(TURN_RECOVERY_SCHEDULE).toBe('rate(1 minute)');
    // Two scheduled rules: this one and the idle sweep's (below).
    template.resourcePropertiesCountIs('AWS::Events::Rule', { ScheduleExpression: Match.anyValue() }, 2);
    template.resourcePropertiesCountIs('AWS::Events::Rule', { ScheduleExpression: TURN_RECOVERY_SCHEDULE }, 1);
    const rule = template.toJSON().Resources[logicalId(stack.turnRecovery.schedule)].Properties as Json;
    expect(rule.ScheduleExpression).toBe(TURN_RECOVERY_SCHEDULE);
    expect(rule.EventPattern).toBeUndefined();
    expect(rule.Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: functionArn(stack.turnRecovery.handler),
        RetryPolicy: {
          MaximumRetryAttempts: TURN_RECOVERY_RETRY_ATTEMPTS,
          MaximumEventAgeInSeconds: TURN_RECOVERY_MAX_EVENT_AGE.toSeconds(),
        },
      },
    ]);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: functionArn(stack.turnRecovery.handler),
      Principal: 'events.amazonaws.com',
      SourceArn: ruleArn(stack.turnRecovery.schedule),
    });
    // EventBridge may invoke turn-control, turn recovery and the idle sweep, nothing else.
    const eventInvoked = Object.values(
      template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'events.amazonaws.com' } }),
    ).map((permission) => permission.Properties.FunctionName as unknown);
    expect(eventInvoked).toHaveLength(3);
    expect(eventInvoked).toEqual(
      expect.arrayContaining([
        functionArn(stack.turnWorkflow.turnControl),
        functionArn(stack.turnRecovery.handler),
        functionArn(stack.idleSweep.handler),
      ]),
    );
  });

  it('builds the recovery function from functions/maintenance/recover-turns.ts: 60 s, STATE_MACHINE_ARN, no Lambda retries', () => {
    expect(stack.turnRecovery.handler.function.node.path).toContain('TurnRecovery');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(stack.turnRecovery.handler.role), 'Arn'] },
      Handler: 'index.handler',
      Timeout: TURN_RECOVERY_TIMEOUT.toSeconds(),
      Environment: { Variables: { STATE_MACHINE_ARN: stack.resolve(stack.turnWorkflow.stateMachineArn) as unknown } },
    });
    expect(TURN_RECOVERY_TIMEOUT.toSeconds()).toBe(60);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack.turnRecovery.handler.function) },
      MaximumRetryAttempts: 0,
    });
    // The bundle is built from the maintenance entry (its source map names it).
    const code = template.toJSON().Resources[logicalId(stack.turnRecovery.handler.function)].Properties.Code as Json;
    const map = readFileSync(
      join(outdir, `asset.${(code.S3Key as string).replace(/\.zip$/, '')}`, 'index.mjs.map'),
      'utf8',
    );
    expect(map).toContain('functions/maintenance/recover-turns.ts');
  });

  it('lets the recovery function start executions of the turn state machine only, and read/write the table', () => {
    const statements = statementsOfRole(logicalId(stack.turnRecovery.handler.role));
    const states = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('states:')),
    );
    expect(states).toEqual([
      {
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: stack.resolve(stack.turnWorkflow.stateMachineArn) as unknown,
      },
    ]);
    const tableArn = { 'Fn::GetAtt': [logicalId(stack.table.table), 'Arn'] };
    const dynamo = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
    );
    expect(dynamo.flatMap(actionsOf)).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
      ]),
    );
    expect(dynamo.flatMap(resourcesOf)).toEqual([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }]);
    // Nothing else: its log group, X-Ray, the table, StartExecution.
    expect(statements.flatMap(actionsOf).filter((action) => !/^(logs|xray|dynamodb|states):/.test(action))).toEqual([]);
  });
});

describe('maintenance: idle sweep and startup reconciliation', () => {
  const functionArn = (fn: ThreadboundFunction) => ({ 'Fn::GetAtt': [logicalId(fn.function), 'Arn'] });
  const ruleArn = (rule: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [logicalId(rule), 'Arn'] });
  const resources = () => template.toJSON().Resources as Record<string, Json>;
  const triggers = () => Object.entries(template.findResources('Custom::Trigger'));
  const providerRoleId = () => stack.resolve(reconciliation().provider.role.logicalId) as string;
  const providerFunctionId = () => stack.resolve(reconciliation().provider.function.logicalId) as string;
  /** The entry file a function was bundled from, as named by its source map. */
  const sourceMap = (fn: ThreadboundFunction) => {
    const code = resources()[logicalId(fn.function)]!.Properties.Code as Json;
    return readFileSync(join(outdir, `asset.${(code.S3Key as string).replace(/\.zip$/, '')}`, 'index.mjs.map'), 'utf8');
  };
  /** StartExecution on the turn state machine only, read/write on the table and its indexes, and nothing else. */
  const expectMaintenancePermissions = (fn: ThreadboundFunction) => {
    const statements = statementsOfRole(logicalId(fn.role));
    const states = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('states:')),
    );
    expect(states, fn.node.path).toEqual([
      {
        Effect: 'Allow',
        Action: 'states:StartExecution',
        Resource: stack.resolve(stack.turnWorkflow.stateMachineArn) as unknown,
      },
    ]);
    const tableArn = { 'Fn::GetAtt': [logicalId(stack.table.table), 'Arn'] };
    const dynamo = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
    );
    expect(dynamo.flatMap(actionsOf), fn.node.path).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
      ]),
    );
    expect(dynamo.flatMap(resourcesOf), fn.node.path).toEqual([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }]);
    expect(
      statements.flatMap(actionsOf).filter((action) => !/^(logs|xray|dynamodb|states):/.test(action)),
      fn.node.path,
    ).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
      Environment: { Variables: { STATE_MACHINE_ARN: stack.resolve(stack.turnWorkflow.stateMachineArn) as unknown } },
    });
  };

  it("runs the idle sweep on exactly the config's threadManagement.cleanupSchedule", () => {
    const expression = stack.config.threadManagement.cleanupSchedule;
    expect(expression).toMatch(/^(rate|cron)\(/);
    const rule = resources()[logicalId(stack.idleSweep.schedule)]!.Properties as Json;
    expect(rule.ScheduleExpression).toBe(expression);
    expect(rule.EventPattern).toBeUndefined();
    expect(rule.Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: functionArn(stack.idleSweep.handler),
        RetryPolicy: {
          MaximumRetryAttempts: IDLE_SWEEP_RETRY_ATTEMPTS,
          MaximumEventAgeInSeconds: IDLE_SWEEP_MAX_EVENT_AGE.toSeconds(),
        },
      },
    ]);
    template.resourcePropertiesCountIs('AWS::Events::Rule', { ScheduleExpression: expression }, 1);
    // Invoked by that rule only.
    const permissions = Object.values(
      template.findResources('AWS::Lambda::Permission', {
        Properties: { FunctionName: functionArn(stack.idleSweep.handler) },
      }),
    );
    expect(permissions.map((permission) => permission.Properties as Json)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: functionArn(stack.idleSweep.handler),
        Principal: 'events.amazonaws.com',
        SourceArn: ruleArn(stack.idleSweep.schedule),
      },
    ]);
  });

  it('builds the idle sweep from functions/maintenance/idle-sweep.ts: 60 s, no Lambda retries', () => {
    expect(IDLE_SWEEP_TIMEOUT.toSeconds()).toBe(60);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(stack.idleSweep.handler.role), 'Arn'] },
      Handler: 'index.handler',
      Timeout: 60,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack.idleSweep.handler.function) },
      MaximumRetryAttempts: 0,
    });
    expect(sourceMap(stack.idleSweep.handler)).toContain('functions/maintenance/idle-sweep.ts');
  });

  it('builds the reconciliation from functions/maintenance/reconcile.ts, 5 minutes, invoked by nothing but the Trigger', () => {
    expect(RECONCILE_TIMEOUT.toSeconds()).toBe(300);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(reconciliation().handler.role), 'Arn'] },
      Handler: 'index.handler',
      Timeout: RECONCILE_TIMEOUT.toSeconds(),
    });
    expect(sourceMap(reconciliation().handler)).toContain('functions/maintenance/reconcile.ts');
    expect(
      Object.keys(
        template.findResources('AWS::Lambda::Permission', {
          Properties: { FunctionName: functionArn(reconciliation().handler) },
        }),
      ),
    ).toEqual([]);
    expect(JSON.stringify(template.findResources('AWS::Events::Rule'))).not.toContain(
      logicalId(reconciliation().handler.function),
    );
  });

  it('lets the idle sweep and the reconciliation start executions of the turn state machine only, and read/write the table', () => {
    expectMaintenancePermissions(stack.idleSweep.handler);
    expectMaintenancePermissions(reconciliation().handler);
  });

  it("has one Trigger, invoking the reconciliation's current version synchronously (a failure fails the deploy), with the deploy nonce", () => {
    expect(triggers()).toHaveLength(1);
    const [, trigger] = triggers()[0]!;
    // HandlerArn is the function's current version: the Version resource of the reconcile function.
    const versionId = (trigger.Properties.HandlerArn as { Ref: string }).Ref;
    expect(resources()[versionId]).toMatchObject({
      Type: 'AWS::Lambda::Version',
      Properties: { FunctionName: { Ref: logicalId(reconciliation().handler.function) } },
    });
    expect(trigger.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [providerFunctionId(), 'Arn'] },
      HandlerArn: { Ref: versionId },
      // RequestResponse: the provider waits for the result and fails the resource (so the
      // deployment) when the function throws. EVENT would only report that the invoke was accepted.
      InvocationType: 'RequestResponse',
      Timeout: String(RECONCILE_TRIGGER_TIMEOUT.toMilliseconds()),
      ExecuteOnHandlerChange: true,
      [DEPLOY_NONCE_PROPERTY]: TEST_NONCE,
    });
    expect(reconciliation().deployNonce).toBe(TEST_NONCE);
    // The provider waits longer than the function may run.
    expect(RECONCILE_TRIGGER_TIMEOUT.toSeconds()).toBeGreaterThan(RECONCILE_TIMEOUT.toSeconds());
  });

  it('runs the Trigger after the table, the state machine and every function (DependsOn)', () => {
    const [, trigger] = triggers()[0]!;
    const dependsOn = new Set([trigger.DependsOn ?? []].flat() as string[]);
    expect(dependsOn).toContain(logicalId(stack.table.table));
    expect(dependsOn).toContain(logicalId(stack.turnWorkflow.stateMachine));
    // The state machine's role policy too (it can invoke the agents once the trigger runs).
    expect(dependsOn).toContain(logicalId(stack.turnWorkflow.stateMachine.role.node.findChild('DefaultPolicy')));
    for (const fn of allFunctions().filter((candidate) => candidate !== reconciliation().handler)) {
      expect(dependsOn, fn.node.path).toContain(logicalId(fn.function));
      expect(dependsOn, fn.node.path).toContain(logicalId(fn.role.node.findChild('DefaultPolicy')));
    }
    // The reconciliation function itself comes in through HandlerArn (its version), whose
    // function waits for its role policy.
    expect([resources()[logicalId(reconciliation().handler.function)]!.DependsOn].flat()).toContain(
      logicalId(reconciliation().handler.role.node.findChild('DefaultPolicy')),
    );
    // Nothing waits for the trigger.
    const [triggerId] = triggers()[0]!;
    for (const [id, resource] of Object.entries(resources()))
      expect([resource.DependsOn ?? []].flat(), id).not.toContain(triggerId);
  });

  it('runs the Trigger provider with its own log group and no managed policy: it may only invoke the reconciliation and write its logs', () => {
    const role = resources()[providerRoleId()]!;
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = (role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );
    const logGroupId = logicalId(reconciliation().provider.logGroup);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: [{ 'Fn::Join': ['', [functionArn(reconciliation().handler), ':*']] }],
      },
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
      },
    ]);
    // Nothing else attaches a policy to it.
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain(providerRoleId());
    const fn = resources()[providerFunctionId()]!;
    expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': [providerRoleId(), 'Arn'] });
    expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: logGroupId } });
    expect(resources()[logGroupId]!.Properties.RetentionInDays).toBe(30);
  });
});

describe('cdk-nag (AwsSolutions, through CDK policy validation)', () => {
  it('synthesizes the app with zero unacknowledged findings', () => {
    // In-process synth throws on any unacknowledged finding (`cdk synth` exits 1);
    // the report in the assembly lists every finding, warnings included.
    expect(synthError === undefined ? undefined : String((synthError as Error).message)).toBeUndefined();
    const report = readReport(outdir);
    expect(unacknowledged(report)).toEqual([]);
    expect(report.pluginReports.map((plugin) => plugin.pluginName)).toContain('AwsSolutions');
    expect(report.pluginReports.find((plugin) => plugin.pluginName === 'AwsSolutions')?.conclusion).toBe('success');
  });

  it('acknowledges exactly the expected findings, each on its own construct, with a reason', () => {
    const report = readReport(outdir);
    const acknowledged = suppressed(report);
    const actual = acknowledged.flatMap((violation) =>
      violation.violatingConstructs.map((construct) => `${violation.ruleName} @ ${construct.constructPath}`),
    );

    const tableArn = `<${logicalId(stack.table.table)}.Arn>`;
    const rolePolicy = (fn: { role: { node: { path: string } } }) => `${fn.role.node.path}/DefaultPolicy/Resource`;
    const workflowFunctions = [
      ...stack.turnWorkflow.agents.values(),
      stack.turnWorkflow.turnControl,
      ...maintenanceFunctions(),
      rotationFunction(),
    ];
    const expected = [
      // X-Ray of every function, and the state machine's log delivery + X-Ray actions. (The DLQ
      // raises nothing: SSE-SQS, TLS-only, and turn-control's DeadLetterConfig satisfies SQS3. The
      // Trigger provider raises nothing either: plain CfnResources, which cdk-nag does not inspect;
      // its role and function are checked by the startup reconciliation tests instead.)
      ...allFunctions().map((fn) => `AwsSolutions-IAM5[Resource::*] @ ${rolePolicy(fn)}`),
      `AwsSolutions-IAM5[Resource::*] @ ${rolePolicy(stack.turnWorkflow.stateMachine)}`,
      // The GSIs, for every function with table access.
      ...[...stack.handlers.access]
        .filter(([, access]) => access !== 'none')
        .map(
          ([handler]) =>
            `AwsSolutions-IAM5[Resource::${tableArn}/index/*] @ ${rolePolicy(stack.handlers.functions.get(handler)!)}`,
        ),
      ...workflowFunctions.map((fn) => `AwsSolutions-IAM5[Resource::${tableArn}/index/*] @ ${rolePolicy(fn)}`),
      ...ROUTES.filter((route) => route.auth === 'none').map(
        (route) => `AwsSolutions-APIG4 @ ${stack.httpApi.routes.get(routeKey(route))!.node.path}/Resource`,
      ),
      // Every secret the stack owns without `rotation` (none in the repository config): no rotation
      // schedule (test/infra/secrets.test.ts checks the reasons); a rotated one has its schedule.
      ...[...stack.secrets.locations]
        .filter(([name, location]) => location.kind === 'owned' && stack.config.secrets[name]!.rotation === undefined)
        .map(([name]) => `AwsSolutions-SMG4 @ ${stack.secrets.secret(name).node.path}/Resource`),
    ];
    expect(actual.sort()).toEqual(expected.sort());
    for (const violation of acknowledged) {
      expect(violation.acknowledgedId).toBe(`AwsSolutions::${violation.ruleName}`);
      expect(violation.reason?.length ?? 0, violation.ruleName).toBeGreaterThan(60);
    }
  });

  it('does fail on a finding: a table without point-in-time recovery is reported', () => {
    const dir = tempOutdir();
    const app = new App({ outdir: dir });
    const bad = new Stack(app, 'NagCanFail');
    new dynamodb.Table(bad, 'Unprotected', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // In-process the exception carries the report; `cdk synth` prints it and exits 1.
    expect(() => app.synth()).toThrow(/AwsSolutions-DDB3/);
    expect(unacknowledged(readReport(dir))).toContainEqual(
      expect.objectContaining({
        plugin: 'AwsSolutions',
        ruleName: 'AwsSolutions-DDB3',
        violatingConstructs: [expect.objectContaining({ constructPath: 'NagCanFail/Unprotected/Resource' })],
      }),
    );
  });

  it('honours an acknowledgement on the violating construct (the mechanism the stack relies on)', () => {
    const dir = tempOutdir();
    const app = new App({ outdir: dir });
    const acked = new Stack(app, 'NagAcknowledged');
    const table = new dynamodb.Table(acked, 'Unprotected', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(table).acknowledge({ id: 'AwsSolutions::AwsSolutions-DDB3', reason: 'throwaway table of a test' });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(() => app.synth()).not.toThrow();
    const report = readReport(dir);
    expect(unacknowledged(report)).toEqual([]);
    expect(suppressed(report).map((violation) => violation.ruleName)).toEqual(['AwsSolutions-DDB3']);
  });
});

describe('secret rotation (the repository config rotates anthropic-api-key; test/infra/rotation.test.ts checks the rest)', () => {
  it('builds the rotation Lambda from functions/rotation/handler.ts: 60 s, the common environment, nothing from EventBridge', () => {
    const fn = stack.secrets.rotation!.handler;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(fn.role), 'Arn'] },
      Handler: 'index.handler',
      Timeout: 60,
      Environment: {
        Variables: {
          TABLE_NAME: { Ref: logicalId(stack.table.table) },
          THREADBOUND_CONFIG: '/var/task/threadbound.config.json',
        },
      },
    });
    const code = template.toJSON().Resources[logicalId(fn.function)].Properties.Code as Json;
    expect(
      readFileSync(join(outdir, `asset.${(code.S3Key as string).replace(/\.zip$/, '')}`, 'index.mjs.map'), 'utf8'),
    ).toContain('functions/rotation/handler.ts');
    // Only Secrets Manager may invoke it (one permission per rotating secret).
    const invokers = Object.values(
      template.findResources('AWS::Lambda::Permission', {
        Properties: { FunctionName: { 'Fn::GetAtt': [logicalId(fn.function), 'Arn'] } },
      }),
    );
    expect(invokers.map((permission) => permission.Properties.Principal)).toEqual(['secretsmanager.amazonaws.com']);
  });
});

describe('bundle sizes', () => {
  /**
   * Above this an API handler has picked up code it does not use. The target is 400 KB; with
   * the AWS SDK, the X-Ray SDK and zod bundled the handlers are 480-545 KB (docs/performance.md).
   */
  const API_BUNDLE_BUDGET = 560_000;
  /** The authorizer: the target. */
  const AUTHORIZER_BUNDLE_BUDGET = 400_000;
  /** An agent's bundle: the shared runtime, the three provider SDKs and the AWS SDK clients (the target). */
  const AGENT_BUNDLE_BUDGET = 1_200_000;
  /** Source-map paths of the model providers' SDKs. */
  const PROVIDER_SDKS = [
    'node_modules/@anthropic-ai/sdk/',
    'node_modules/openai/',
    'node_modules/@aws-sdk/client-bedrock-runtime/',
  ];
  const assetOf = (fn: ThreadboundFunction) => {
    const code = (template.toJSON().Resources as Record<string, Json>)[logicalId(fn.function)]!.Properties.Code as Json;
    return join(outdir, `asset.${(code.S3Key as string).replace(/\.zip$/, '')}`);
  };
  const bytesOf = (fn: ThreadboundFunction) => readFileSync(join(assetOf(fn), 'index.mjs')).length;
  const sdksIn = (fn: ThreadboundFunction) => {
    const { sources } = JSON.parse(readFileSync(join(assetOf(fn), 'index.mjs.map'), 'utf8')) as { sources: string[] };
    return PROVIDER_SDKS.filter((sdk) => sources.some((source) => source.includes(sdk)));
  };

  it('keeps the provider SDKs out of every function but the agents and the rotation (which checks provider keys)', () => {
    const agents = new Set<ThreadboundFunction>([...stack.turnWorkflow.agents.values(), rotationFunction()]);
    for (const fn of allFunctions().filter((candidate) => !agents.has(candidate)))
      expect(sdksIn(fn), fn.node.path).toEqual([]);
  });

  it('leaves the credential providers a Lambda never reaches, and semver, out of every bundle as lazy imports', () => {
    for (const fn of allFunctions()) {
      const { sources } = JSON.parse(readFileSync(join(assetOf(fn), 'index.mjs.map'), 'utf8')) as { sources: string[] };
      const bundled = [...UNREACHED_SDK_MODULES, 'semver'].filter((name) =>
        sources.some((source) => source.includes(`node_modules/${name}/`)),
      );
      expect(bundled, fn.node.path).toEqual([]);
      // Left external, they must stay dynamic: a static import would have to resolve at cold start.
      const code = readFileSync(join(assetOf(fn), 'index.mjs'), 'utf8');
      for (const name of UNREACHED_SDK_MODULES)
        expect(code, fn.node.path).not.toMatch(new RegExp(`(from|import)\\s*"${name}`));
    }
  });

  it('keeps every API handler and the authorizer, and every agent, within its budget', () => {
    expect(bytesOf(stack.authorizer.handler)).toBeLessThanOrEqual(AUTHORIZER_BUNDLE_BUDGET);
    for (const fn of stack.handlers.functions.values())
      expect(bytesOf(fn), fn.node.path).toBeLessThanOrEqual(API_BUNDLE_BUDGET);
    for (const fn of stack.turnWorkflow.agents.values())
      expect(bytesOf(fn), fn.node.path).toBeLessThanOrEqual(AGENT_BUNDLE_BUDGET);
  });
});
