import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  METRICS_NAMESPACE,
  ROTATION_FAILED_METRIC,
  ROTATION_FUNCTION_ARN_ENV,
  ROTATION_KEY_ACTIONS,
  ROTATION_SECRET_ACTIONS,
  ROTATION_TIMEOUT,
  SECRETS_MANAGER_PRINCIPAL,
} from '../../infra/constructs/secret-rotation.js';
import { loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { rotationRules } from '../../lib/secrets/rotation-rules.js';
import {
  actionsOf,
  asList,
  asSet,
  buildWithoutSynth,
  COMPLETE_ARN,
  CONFIG_PATH,
  configWith,
  expectedResource,
  type Json,
  logicalIdOf,
  OTHER_ACCOUNT,
  ownedName,
  PARTIAL_ARN,
  removeTempOutdirs,
  resourcesOf,
  roleIdOf,
  rotationAlarms,
  type Statement,
  type Synthesized,
  secretKeys,
  statementsOfRole,
  suppressed,
  synth,
  unacknowledged,
} from '../support/infra.js';

// Rotation of the config's secrets in the template (issue 6): the one rotation Lambda and exactly its
// permissions, Secrets Manager's invoke permission, one RotationSchedule and one failure alarm per
// rotating secret, the Errors alarm, the RotateSecret caller's grants; nothing for a secret without
// `rotation`. Synthesized without bundling, cdk-nag on.

/** What grantReadWriteData allows on the table and its indexes (no Scan-free variant exists in CDK). */
const TABLE_READ_WRITE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];

/**
 * Five rotating secrets — an owned `generated` one on a rate, an owned `staged` one on a cron with a
 * 3-hour window, an owned one on the default schedule with a one-day window, a complete-ARN one and a
 * partial-ARN one (another account) — and two without rotation (owned, and ARN).
 */
function multiSecretConfig(): Config {
  return configWith(
    { main: ['gen', 'plain'], data: ['ext', 'ext-plain'], trading: ['staged'] },
    {
      gen: { source: 'aws-secretsmanager://tb-rot/gen', rotation: { schedule: 'rate(7 days)', strategy: 'generated' } },
      staged: {
        source: 'aws-secretsmanager://tb-rot/staged',
        rotation: { schedule: 'cron(0 3 * * ? *)', window: '3h', strategy: 'staged' },
      },
      daily: { source: 'aws-secretsmanager://tb-rot/daily', rotation: { window: '1d', strategy: 'provider-admin' } },
      ext: { source: COMPLETE_ARN, rotation: { schedule: 'rate(30 days)', strategy: 'staged' } },
      'ext-partial': {
        source: PARTIAL_ARN,
        rotation: { schedule: 'cron(0 22 ? * SUN *)', window: '2h', strategy: 'generated' },
      },
      plain: { source: 'aws-secretsmanager://tb-rot/plain' },
      'ext-plain': { source: `arn:aws:secretsmanager:eu-west-1:${OTHER_ACCOUNT}:secret:shared/plain-XyZ789` },
    },
  );
}

/** What the config says each rotating secret's schedule must be (RotationRules exactly: no AutomaticallyAfterDays). */
const EXPECTED_RULES: Record<string, Json> = {
  gen: { ScheduleExpression: 'rate(7 days)' },
  staged: { ScheduleExpression: 'cron(0 3 * * ? *)', Duration: '3h' },
  daily: { ScheduleExpression: 'rate(1 day)', Duration: '24h' },
  ext: { ScheduleExpression: 'rate(30 days)' },
  'ext-partial': { ScheduleExpression: 'cron(0 22 ? * SUN *)', Duration: '2h' },
};
const ROTATING = Object.keys(EXPECTED_RULES);
const NOT_ROTATING = ['plain', 'ext-plain'];
/** What both rotation alarms (per-secret failures and the Lambda's Errors) fire on: Sum ≥ 1 in 5 minutes, missing data not breaching. */
const ALARM_ON_ANY_IN_5_MINUTES = {
  Statistic: 'Sum',
  Period: 300,
  Threshold: 1,
  ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  EvaluationPeriods: 1,
  TreatMissingData: 'notBreaching',
};

afterAll(removeTempOutdirs);

/** `SecretId` of a secret's schedule: the owned secret's Ref, or the configured ARN as it is. */
function scheduleSecretId(template: Template, config: Config, name: string): unknown {
  const source = config.secrets[name]!.source;
  return ownedName(source) !== undefined ? expectedResource(template, config, name) : source;
}

/** The rotation Lambda's exact statements for a config's rotating secrets. */
function expectRotationRoleExactly({ stack, template }: Synthesized, config: Config, rotating: string[]): void {
  const rotation = stack.secrets.rotation!;
  const fn = rotation.handler;
  const statements = statementsOfRole(template, roleIdOf(stack, fn));
  const tableArn = { 'Fn::GetAtt': [logicalIdOf(stack, stack.table.table), 'Arn'] };
  const ownedRotating = rotating.filter((name) => ownedName(config.secrets[name]!.source) !== undefined);
  const byService = (service: string) =>
    statements.filter((statement) => actionsOf(statement).some((action) => action.startsWith(`${service}:`)));

  // Only these services, each in exactly one statement (none mixes services).
  const services = new Set(statements.flatMap(actionsOf).map((action) => action.split(':')[0]));
  expect(services).toEqual(
    new Set(['logs', 'xray', 'dynamodb', 'secretsmanager', ...(ownedRotating.length > 0 ? ['kms'] : [])]),
  );
  for (const statement of statements) {
    expect(statement.Effect).toBe('Allow');
    expect(new Set(actionsOf(statement).map((action) => action.split(':')[0])).size).toBe(1);
    expect(actionsOf(statement).some((action) => action.includes('*'))).toBe(false);
  }

  expect(byService('logs')).toEqual([
    {
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: { 'Fn::GetAtt': [logicalIdOf(stack, fn.logGroup), 'Arn'] },
    },
  ]);
  expect(byService('xray')).toEqual([
    { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
  ]);
  expect(byService('dynamodb')).toEqual([
    {
      Effect: 'Allow',
      Action: TABLE_READ_WRITE_ACTIONS,
      Resource: [tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }],
    },
  ]);

  // Secrets Manager: the four rotation actions on exactly the rotating secrets; no GetRandomPassword, no "*", no condition.
  const secretStatements = byService('secretsmanager');
  expect(secretStatements).toHaveLength(1);
  const [secretStatement] = secretStatements as [Statement];
  expect([...actionsOf(secretStatement)].sort()).toEqual([...ROTATION_SECRET_ACTIONS].sort());
  expect(actionsOf(secretStatement)).not.toContain('secretsmanager:GetRandomPassword');
  expect(asSet(resourcesOf(secretStatement))).toEqual(
    asSet(rotating.map((name) => expectedResource(template, config, name))),
  );
  expect(secretStatement.Condition).toBeUndefined();

  // KMS: Decrypt + GenerateDataKey on the stack key only, via Secrets Manager, for exactly the owned rotating secrets.
  const kmsStatements = byService('kms');
  if (ownedRotating.length === 0) {
    expect(kmsStatements).toEqual([]);
  } else {
    const keyId = Object.keys(secretKeys(template))[0]!;
    expect(kmsStatements).toHaveLength(1);
    const [kmsStatement] = kmsStatements as [Statement];
    expect([...actionsOf(kmsStatement)].sort()).toEqual([...ROTATION_KEY_ACTIONS].sort());
    expect(resourcesOf(kmsStatement)).toEqual([{ 'Fn::GetAtt': [keyId, 'Arn'] }]);
    expect(Object.keys(kmsStatement.Condition ?? {})).toEqual(['StringEquals']);
    const conditions = kmsStatement.Condition!.StringEquals as Json;
    expect(Object.keys(conditions).sort()).toEqual(['kms:EncryptionContext:SecretARN', 'kms:ViaService']);
    expect(conditions['kms:ViaService']).toEqual({
      'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
    });
    expect(asSet(asList(conditions['kms:EncryptionContext:SecretARN']))).toEqual(
      asSet(ownedRotating.map((name) => expectedResource(template, config, name))),
    );
  }

  // No wildcard resource but X-Ray's "*" (no resource-level permissions) and the table's own indexes.
  for (const statement of statements) {
    for (const resource of resourcesOf(statement)) {
      if (!JSON.stringify(resource).includes('*')) continue;
      if (resource === '*') expect(actionsOf(statement)[0]).toMatch(/^xray:/);
      else expect(resource).toEqual({ 'Fn::Join': ['', [tableArn, '/index/*']] });
    }
  }
}

describe('a config with several rotating secrets (rate, cron + window, generated, staged, ARN-sourced) and two without rotation', () => {
  let config: Config;
  let synthesized: Synthesized;
  let fnArn: unknown;
  beforeAll(() => {
    config = multiSecretConfig();
    synthesized = synth(config);
    fnArn = {
      'Fn::GetAtt': [logicalIdOf(synthesized.stack, synthesized.stack.secrets.rotation!.handler.function), 'Arn'],
    };
  });

  it('has one rotation Lambda for the stack: functions/rotation/handler.ts, 60 s, the common environment', () => {
    const { stack, template } = synthesized;
    const rotation = stack.secrets.rotation!;
    expect(rotation).toBeDefined();
    expect(ROTATION_TIMEOUT.toSeconds()).toBe(60);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [roleIdOf(stack, rotation.handler), 'Arn'] },
      Handler: 'index.handler',
      Timeout: 60,
      Environment: {
        Variables: {
          TABLE_NAME: { Ref: logicalIdOf(stack, stack.table.table) },
          THREADBOUND_CONFIG: '/var/task/threadbound.config.json',
          POWERTOOLS_SERVICE_NAME: 'threadbound',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    // Exactly one function is the RotationLambdaARN of every schedule.
    const lambdas = new Set(
      Object.values(template.findResources('AWS::SecretsManager::RotationSchedule')).map((schedule) =>
        JSON.stringify(schedule.Properties.RotationLambdaARN),
      ),
    );
    expect(lambdas).toEqual(new Set([JSON.stringify(fnArn)]));
  });

  it('gives every rotating secret an AWS::SecretsManager::RotationSchedule with the config schedule and window, no AutomaticallyAfterDays, no rotation on deploy', () => {
    const { template, stack } = synthesized;
    const schedules = Object.entries(template.findResources('AWS::SecretsManager::RotationSchedule'));
    expect(schedules).toHaveLength(ROTATING.length);
    const permissionIds = new Map(
      [...stack.secrets.rotation!.permissions].map(([name, permission]) => [name, stack.getLogicalId(permission)]),
    );
    const rolePolicyId = stack.getLogicalId(
      stack.secrets.rotation!.handler.role.node.findChild('DefaultPolicy').node.defaultChild as never,
    );
    for (const name of ROTATING) {
      const secretId = scheduleSecretId(template, config, name);
      const matching = schedules.filter(
        ([, schedule]) => JSON.stringify(schedule.Properties.SecretId) === JSON.stringify(secretId),
      );
      expect(matching, name).toHaveLength(1);
      const [, schedule] = matching[0]!;
      // Exactly these properties: no HostedRotationLambda, and RotationRules exactly the config's (no AutomaticallyAfterDays).
      expect(schedule.Properties, name).toEqual({
        SecretId: secretId,
        RotationLambdaARN: fnArn,
        RotationRules: EXPECTED_RULES[name],
        RotateImmediatelyOnUpdate: false,
      });
      expect(schedule.Properties.RotationRules.AutomaticallyAfterDays, name).toBeUndefined();
      // The invoke permission and the role's policy exist before Secrets Manager first invokes the function.
      const dependsOn = [schedule.DependsOn ?? []].flat();
      expect(dependsOn, name).toContain(permissionIds.get(name));
      expect(dependsOn, name).toContain(rolePolicyId);
    }
    // The partial ARN is passed as configured (Secrets Manager accepts a partial ARN as SecretId).
    expect(scheduleSecretId(template, config, 'ext-partial')).toBe(PARTIAL_ARN);
  });

  it('gives the rotation Lambda exactly the rotation actions on the rotating secrets, the key via Secrets Manager for the owned ones, the table, and nothing else', () => {
    expectRotationRoleExactly(synthesized, config, ROTATING);
  });

  it('lets Secrets Manager invoke the rotation Lambda, once per rotating secret, restricted by aws:SourceAccount and aws:SourceArn', () => {
    const { template, stack } = synthesized;
    const permissions = Object.values(
      template.findResources('AWS::Lambda::Permission', { Properties: { FunctionName: fnArn } }),
    );
    expect(permissions).toHaveLength(ROTATING.length);
    const expected = ROTATING.map((name) => ({
      Action: 'lambda:InvokeFunction',
      FunctionName: fnArn,
      Principal: SECRETS_MANAGER_PRINCIPAL,
      SourceAccount: ownedName(config.secrets[name]!.source) !== undefined ? { Ref: 'AWS::AccountId' } : OTHER_ACCOUNT,
      SourceArn: expectedResource(template, config, name),
    }));
    expect(asSet(permissions.map((permission) => permission.Properties))).toEqual(asSet(expected));
    // Nothing else may invoke it through a resource policy.
    expect(new Set(permissions.map((permission) => permission.Properties.Principal))).toEqual(
      new Set([SECRETS_MANAGER_PRINCIPAL]),
    );
    expect([...stack.secrets.rotation!.permissions.keys()].sort()).toEqual([...ROTATING].sort());
  });

  it('raises an alarm per rotating secret on RotationFailed (Sum ≥ 1 in 5 min, missing data not breaching) that names the secret and the command to run', () => {
    const { template, stack } = synthesized;
    const failureAlarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: ROTATION_FAILED_METRIC } }),
    );
    expect(failureAlarms).toHaveLength(ROTATING.length);
    for (const name of ROTATING) {
      const alarms = failureAlarms.filter((alarm) =>
        (alarm.Properties.Dimensions as Json[]).some(
          (dimension) => dimension.Name === 'secret' && dimension.Value === name,
        ),
      );
      expect(alarms, name).toHaveLength(1);
      const { Properties: alarm } = alarms[0]!;
      expect(alarm.Namespace).toBe(METRICS_NAMESPACE);
      expect(alarm.Namespace).toBe('threadbound');
      expect(asSet(alarm.Dimensions)).toEqual(
        asSet([
          { Name: 'service', Value: 'threadbound' },
          { Name: 'secret', Value: name },
        ]),
      );
      expect(alarm).toMatchObject(ALARM_ON_ANY_IN_5_MINUTES);
      expect(alarm.AlarmName).toBe(`${stack.stackName}-secret-rotation-failed-${name}`);
      expect(alarm.AlarmDescription).toContain(`"${name}"`);
      expect(alarm.AlarmDescription).toContain(`threadbound secrets status ${name}`);
      // It notifies the operations alarm topic (infra/constructs/operations-dashboard.ts).
      expect(alarm.AlarmActions).toEqual([{ Ref: logicalIdOf(stack, stack.operations.topic) }]);
    }
    expect([...stack.secrets.rotation!.failureAlarms.keys()].sort()).toEqual([...ROTATING].sort());
  });

  it("raises one alarm on the rotation Lambda's Errors metric", () => {
    const { template, stack } = synthesized;
    const errors = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'AWS/Lambda' } }),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]!.Properties).toMatchObject({
      MetricName: 'Errors',
      Dimensions: [
        { Name: 'FunctionName', Value: { Ref: logicalIdOf(stack, stack.secrets.rotation!.handler.function) } },
      ],
      ...ALARM_ON_ANY_IN_5_MINUTES,
      AlarmName: `${stack.stackName}-secret-rotation-errors`,
    });
    expect(errors[0]!.Properties.AlarmDescription).toContain('threadbound secrets status');
    expect(rotationAlarms(template)).toHaveLength(ROTATING.length + 1);
  });

  it('gives a secret without rotation no schedule, no alarm, no invoke permission and no rotation grant', () => {
    const { template, stack } = synthesized;
    const everything = JSON.stringify([
      template.findResources('AWS::SecretsManager::RotationSchedule'),
      template.findResources('AWS::CloudWatch::Alarm'),
      template.findResources('AWS::Lambda::Permission', { Properties: { Principal: SECRETS_MANAGER_PRINCIPAL } }),
      statementsOfRole(template, roleIdOf(stack, stack.secrets.rotation!.handler)),
    ]);
    for (const name of NOT_ROTATING) {
      expect(everything, name).not.toContain(JSON.stringify(expectedResource(template, config, name)));
      expect(everything, name).not.toContain(`"${name}"`);
    }
    expect(stack.secrets.rotation!.schedules.has('plain')).toBe(false);
  });

  it('lets the RotateSecret caller (grantRotate: secrets-rotate) rotate exactly the rotating secrets and invoke the rotation Lambda, and tells it the ARN', () => {
    const { template, stack } = synthesized;
    const rotator = stack.handlers.functions.get('secrets-rotate')!;
    const statements = statementsOfRole(template, roleIdOf(stack, rotator)).filter(
      (statement) => !actionsOf(statement).some((action) => /^(logs|xray):/.test(action)),
    );
    expect(statements).toHaveLength(2);
    const rotate = statements.find((statement) => actionsOf(statement).includes('secretsmanager:RotateSecret'))!;
    expect(actionsOf(rotate)).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:RotateSecret']);
    expect(asSet(resourcesOf(rotate))).toEqual(asSet(ROTATING.map((name) => expectedResource(template, config, name))));
    // RotateSecret's caller needs lambda:InvokeFunction on the rotation function (API reference), the unqualified ARN it passes.
    expect(statements.find((statement) => statement !== rotate)).toEqual({
      Effect: 'Allow',
      Action: 'lambda:InvokeFunction',
      Resource: fnArn,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [roleIdOf(stack, rotator), 'Arn'] },
      Environment: { Variables: { [ROTATION_FUNCTION_ARN_ENV]: fnArn } },
    });
    // No other function may invoke the rotation Lambda or knows its ARN.
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      if ((policy.Properties.Roles as Json[]).some((role) => role.Ref === roleIdOf(stack, rotator))) continue;
      expect(JSON.stringify(policy.Properties.PolicyDocument), id).not.toContain(JSON.stringify(fnArn));
    }
    const withArn = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) => fn.Properties.Environment?.Variables?.[ROTATION_FUNCTION_ARN_ENV] !== undefined,
    );
    expect(withArn).toHaveLength(1);
  });

  it('adds no secret resource policy and names no role in the key policy', () => {
    const { template, stack } = synthesized;
    template.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 0);
    const keyPolicy = JSON.stringify(Object.values(secretKeys(template))[0]!.Properties.KeyPolicy);
    expect(keyPolicy).not.toContain(roleIdOf(stack, stack.secrets.rotation!.handler));
  });

  it('is cdk-nag clean, with SMG4 acknowledged only for the owned secret without rotation (the schedules satisfy it)', () => {
    const { report, synthError, stack } = synthesized;
    expect(synthError === undefined ? undefined : String((synthError as Error).message)).toBeUndefined();
    expect(unacknowledged(report)).toEqual([]);
    const smg4 = suppressed(report)
      .filter((violation) => violation.ruleName === 'AwsSolutions-SMG4')
      .flatMap((violation) => violation.violatingConstructs.map((construct) => construct.constructPath));
    expect(smg4).toEqual([`${stack.secrets.secret('plain').node.path}/Resource`]);
    // On the rotation construct only the function-role findings every function has (X-Ray "*", the table's indexes).
    const onRotation = suppressed(report).flatMap((violation) =>
      violation.violatingConstructs
        .filter((construct) => construct.constructPath.startsWith(`${stack.secrets.rotation!.node.path}/`))
        .map(() => violation.ruleName),
    );
    expect(onRotation.sort()).toEqual([
      'AwsSolutions-IAM5[Resource::*]',
      `AwsSolutions-IAM5[Resource::<${logicalIdOf(stack, stack.table.table)}.Arn>/index/*]`,
    ]);
  });
});

describe('ARN-sourced rotating secrets only', () => {
  it('grants the rotation actions on the ARNs and no KMS permission (the owner shares the key), with no stack key at all', () => {
    const config = configWith(
      { data: ['ext'] },
      {
        ext: { source: COMPLETE_ARN, rotation: { strategy: 'staged' } },
        'ext-partial': { source: PARTIAL_ARN, rotation: { strategy: 'generated' } },
      },
    );
    const synthesized = synth(config);
    expect(secretKeys(synthesized.template)).toEqual({});
    expectRotationRoleExactly(synthesized, config, ['ext', 'ext-partial']);
    synthesized.template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 2);
    synthesized.template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: COMPLETE_ARN,
      RotationRules: { ScheduleExpression: 'rate(1 day)' },
    });
    expect(unacknowledged(synthesized.report)).toEqual([]);
  });
});

describe('no secret with rotation', () => {
  it('creates no rotation Lambda, schedule, alarm or permission, and grantRotate grants nothing', () => {
    const config = configWith({ main: ['plain'] }, { plain: { source: 'aws-secretsmanager://tb-rot/plain' } });
    const { stack, template, report } = synth(config);
    expect(stack.secrets.rotation).toBeUndefined();
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    expect(rotationAlarms(template)).toEqual([]);
    expect(
      Object.keys(
        template.findResources('AWS::Lambda::Permission', { Properties: { Principal: SECRETS_MANAGER_PRINCIPAL } }),
      ),
    ).toEqual([]);
    const rotator = stack.handlers.functions.get('secrets-rotate')!;
    const actions = statementsOfRole(template, roleIdOf(stack, rotator)).flatMap(actionsOf);
    expect(actions.filter((action) => /^(secretsmanager|lambda|kms):/.test(action))).toEqual([]);
    expect(JSON.stringify(template.toJSON())).not.toContain(ROTATION_FUNCTION_ARN_ENV);
    expect(unacknowledged(report)).toEqual([]);
  });
});

describe('the shipped threadbound.config.json', () => {
  let config: Config;
  let synthesized: Synthesized;
  beforeAll(() => {
    config = loadConfig(CONFIG_PATH);
    synthesized = synth(config);
  });

  it('rotates anthropic-api-key (staged) on cron(0 3 * * ? *) with the rotation Lambda, its alarm and its invoke permission', () => {
    const { template, stack } = synthesized;
    expect(config.secrets['anthropic-api-key']!.rotation).toEqual({
      schedule: 'cron(0 3 * * ? *)',
      strategy: 'staged',
    });
    const fnArn = { 'Fn::GetAtt': [logicalIdOf(stack, stack.secrets.rotation!.handler.function), 'Arn'] };
    const secretRef = expectedResource(template, config, 'anthropic-api-key');
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    expect(Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'))[0]!.Properties).toEqual({
      SecretId: secretRef,
      RotationLambdaARN: fnArn,
      RotationRules: { ScheduleExpression: 'cron(0 3 * * ? *)' },
      RotateImmediatelyOnUpdate: false,
    });
    expectRotationRoleExactly(synthesized, config, ['anthropic-api-key']);
    expect(
      Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { FunctionName: fnArn } })).map(
        (permission) => permission.Properties,
      ),
    ).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: fnArn,
        Principal: SECRETS_MANAGER_PRINCIPAL,
        SourceAccount: { Ref: 'AWS::AccountId' },
        SourceArn: secretRef,
      },
    ]);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: ROTATION_FAILED_METRIC,
      Namespace: METRICS_NAMESPACE,
      Dimensions: [
        { Name: 'secret', Value: 'anthropic-api-key' },
        { Name: 'service', Value: 'threadbound' },
      ],
      Threshold: 1,
    });
    expect(rotationAlarms(template)).toHaveLength(2);
  });

  it('is cdk-nag clean with no SMG4 acknowledgement left', () => {
    const { report, synthError } = synthesized;
    expect(synthError === undefined ? undefined : String((synthError as Error).message)).toBeUndefined();
    expect(unacknowledged(report)).toEqual([]);
    expect(suppressed(report).filter((violation) => violation.ruleName === 'AwsSolutions-SMG4')).toEqual([]);
  });
});

describe('rotationRules: the config schedule and window as Secrets Manager takes them', () => {
  const rules = (schedule: string, window?: string) => rotationRules('s', { schedule, window, strategy: 'generated' });

  it('passes rate and cron schedules on and converts the window to whole hours ("<n>h")', () => {
    expect(rules('rate(1 day)')).toEqual({ scheduleExpression: 'rate(1 day)' });
    expect(rules('rate(4 hours)')).toEqual({ scheduleExpression: 'rate(4 hours)' });
    expect(rules('rate(1000 days)', '24h')).toEqual({ scheduleExpression: 'rate(1000 days)', duration: '24h' });
    expect(rules('cron(0 3 * * ? *)', '3h')).toEqual({ scheduleExpression: 'cron(0 3 * * ? *)', duration: '3h' });
    expect(rules('cron(0 16 L * ? *)', '120m')).toEqual({ scheduleExpression: 'cron(0 16 L * ? *)', duration: '2h' });
    expect(rules('rate(1 day)', '1d')).toEqual({ scheduleExpression: 'rate(1 day)', duration: '24h' });
    expect(rules('rate(12 hours)', '12h')).toEqual({ scheduleExpression: 'rate(12 hours)', duration: '12h' });
    expect(rules('cron(0 8/8 * * ? *)', '4h')).toEqual({ scheduleExpression: 'cron(0 8/8 * * ? *)', duration: '4h' });
  });

  it('refuses what Secrets Manager refuses, naming the secret', () => {
    expect(() => rules('rate(10 minutes)')).toThrow(/secret "s": rotation.schedule "rate\(10 minutes\)"/);
    expect(() => rules('rate(2 hours)')).toThrow(/at most every 4 hours/);
    expect(() => rules('rate(1001 days)')).toThrow(/1 to 1000 days/);
    expect(() => rules('cron(30 3 * * ? *)')).toThrow(/minutes field must be 0/);
    expect(() => rules('cron(0 3 * * ? 2030)')).toThrow(/year field must be \*/);
    expect(() => rules('cron(0 3 * * ?)')).toThrow(/6 fields/);
    expect(() => rules('rate(1 day)', '90m')).toThrow(/whole hours/);
    expect(() => rules('rate(1 day)', '25h')).toThrow(/1 to 24 hours/);
    expect(() => rules('cron(0 22 * * ? *)', '3h')).toThrow(/starting at 22:00 UTC it would run into the next UTC day/);
    expect(() => rules('rate(6 hours)', '8h')).toThrow(/longer than the 6-hour rotation interval/);
  });

  it('fails cdk synth on such a config, before anything is built', () => {
    const config = configWith(
      {},
      {
        bad: {
          source: 'aws-secretsmanager://tb-rot/bad',
          rotation: { schedule: 'cron(0 23 * * ? *)', window: '2h', strategy: 'staged' },
        },
      },
    );
    expect(() => buildWithoutSynth(config)).toThrow(/secret "bad": rotation.window "2h"/);
  });
});
