import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type RotationConfig, type RotationRules, rotationRules } from '../../lib/secrets/rotation-rules.js';
import { grantTableAccess } from './table-access.js';
import { ThreadboundFunction } from './threadbound-function.js';

/** The rotation Lambda's entry (export `handler`): Secrets Manager's four steps. */
export const ROTATION_ENTRY = 'functions/rotation/handler.ts';
/** One step (createSecret, setSecret, testSecret or finishSecret) calls Secrets Manager and at most the provider once or twice. */
export const ROTATION_TIMEOUT = Duration.seconds(60);
/** The service principal that invokes rotation functions. */
export const SECRETS_MANAGER_PRINCIPAL = 'secretsmanager.amazonaws.com';
/** Environment variable telling the RotateSecret caller (`secrets-rotate`) which function to pass as RotationLambdaARN. */
export const ROTATION_FUNCTION_ARN_ENV = 'ROTATION_FUNCTION_ARN';

/** The rotation Lambda's role: exactly these Secrets Manager actions on the rotating secrets (no GetRandomPassword: values come from node:crypto). */
export const ROTATION_SECRET_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
] as const;
/** What Secrets Manager needs of the caller's key permissions: Decrypt to read a version (GetSecretValue), GenerateDataKey to write one (PutSecretValue). */
export const ROTATION_KEY_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/** CloudWatch namespace and `service` dimension of the handlers' EMF metrics (functions/shared/metrics.ts). */
export const METRICS_NAMESPACE = 'threadbound';
export const METRICS_SERVICE = 'threadbound';
/** Emitted by the rotation handler (EMF, Count) on every failed step, with dimensions {service, secret: <config name>}. */
export const ROTATION_FAILED_METRIC = 'RotationFailed';
/** Period of the rotation alarms: one failed step within 5 minutes fires. */
export const ROTATION_ALARM_PERIOD = Duration.minutes(5);

/** A secret with `rotation`, as {@link SecretRotation} needs it. */
export interface RotatedSecret {
  /** Config name (the `secret` dimension of RotationFailed). */
  readonly name: string;
  readonly rotation: RotationConfig;
  /** `SecretId` of the schedule: the owned secret's ARN (`Ref`) or the configured ARN. */
  readonly secretId: string;
  /** The IAM resource naming the secret (the same one ThreadboundSecrets' policies use): ARN, or `<partial ARN>-??????`. */
  readonly policyArn: string;
  /** Account of the secret (`aws:SourceAccount` of Secrets Manager's invocation). */
  readonly account: string;
  /** Created by this stack and encrypted with its key (true), or referenced by ARN (false: no KMS grant). */
  readonly owned: boolean;
}

/** Props of {@link SecretRotation}. */
export interface SecretRotationProps {
  readonly table: dynamodb.Table;
  /** Absolute path of the config file copied into the bundle. */
  readonly configPath: string;
  /** Every secret with `rotation` (at least one). */
  readonly secrets: readonly RotatedSecret[];
  /** The stack's secrets key; required when an owned secret rotates. */
  readonly key?: kms.IKey;
}

/**
 * Rotation of the config's secrets (ARCHITECTURE §6, issue 6):
 *
 * - **one rotation Lambda** ({@link ROTATION_ENTRY}, 60 s) that Secrets Manager invokes for the four
 *   steps of every rotating secret; its role may `DescribeSecret`, `GetSecretValue`,
 *   `PutSecretValue` and `UpdateSecretVersionStage` on exactly those secrets, `kms:Decrypt` and
 *   `kms:GenerateDataKey` on the stack's key only via Secrets Manager and only for the owned ones'
 *   encryption context, and read/write the table (outcomes and audit entries). Nothing else;
 * - per secret, a **Lambda permission** for `secretsmanager.amazonaws.com` with `aws:SourceAccount`
 *   (the documented confused-deputy guard) **and** `aws:SourceArn` = that secret (the documentation
 *   notes SourceArn ties the permission to one secret — one statement per secret does exactly that);
 * - per secret, an `AWS::SecretsManager::RotationSchedule` (L1: the L2 `RotationSchedule` only takes
 *   `automaticallyAfter` and adds `GetRandomPassword` on `*`, a key-policy grant and a secret
 *   resource policy) with `ScheduleExpression`, `Duration` (the window) and
 *   `RotateImmediatelyOnUpdate: false`, depending on the permission and the role's policy;
 * - per secret, an **alarm** on `RotationFailed` (Sum ≥ 1 in 5 min); one alarm on the function's `Errors`.
 */
export class SecretRotation extends Construct {
  /** The rotation Lambda. */
  readonly handler: ThreadboundFunction;
  /** The schedule of each rotating secret, by config name. */
  readonly schedules: ReadonlyMap<string, secretsmanager.CfnRotationSchedule>;
  /** Secrets Manager's invoke permission for each rotating secret, by config name. */
  readonly permissions: ReadonlyMap<string, lambda.CfnPermission>;
  /** The RotationFailed alarm of each rotating secret, by config name. */
  readonly failureAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** The alarm on the rotation Lambda's Errors metric. */
  readonly errorsAlarm: cloudwatch.Alarm;
  /** The rotation rules of each rotating secret, by config name. */
  readonly rules: ReadonlyMap<string, RotationRules>;

  constructor(scope: Construct, id: string, props: SecretRotationProps) {
    super(scope, id);
    if (props.secrets.length === 0) throw new Error('SecretRotation needs at least one secret with rotation');
    const stack = Stack.of(this);
    // Checked before any resource exists: a schedule Secrets Manager would refuse fails synth.
    const rules = new Map(
      props.secrets.map((secret) => [secret.name, rotationRules(secret.name, secret.rotation)] as const),
    );
    this.rules = rules;

    this.handler = new ThreadboundFunction(this, 'Function', {
      entry: ROTATION_ENTRY,
      configPath: props.configPath,
      tableName: props.table.tableName,
      description: 'threadbound secret rotation (Secrets Manager createSecret/setSecret/testSecret/finishSecret)',
      timeout: ROTATION_TIMEOUT,
    });
    const fn = this.handler;
    grantTableAccess(fn, props.table, 'write');

    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [...ROTATION_SECRET_ACTIONS],
        resources: props.secrets.map((secret) => secret.policyArn),
      }),
    );
    const owned = props.secrets.filter((secret) => secret.owned);
    if (owned.length > 0) {
      if (props.key === undefined)
        throw new Error(
          `secrets ${owned.map((secret) => `"${secret.name}"`).join(', ')} are owned by the stack, but SecretRotation got no key`,
        );
      fn.role.addToPolicy(
        new iam.PolicyStatement({
          actions: [...ROTATION_KEY_ACTIONS],
          resources: [props.key.keyArn],
          conditions: {
            StringEquals: {
              'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com`,
              'kms:EncryptionContext:SecretARN': owned.map((secret) => secret.policyArn),
            },
          },
        }),
      );
    }

    const schedules = new Map<string, secretsmanager.CfnRotationSchedule>();
    const permissions = new Map<string, lambda.CfnPermission>();
    const failureAlarms = new Map<string, cloudwatch.Alarm>();
    for (const secret of props.secrets) {
      const permission = new lambda.CfnPermission(this, `InvokeBySecretsManager-${secret.name}`, {
        action: 'lambda:InvokeFunction',
        functionName: fn.function.functionArn,
        principal: SECRETS_MANAGER_PRINCIPAL,
        sourceAccount: secret.account,
        sourceArn: secret.policyArn,
      });
      permissions.set(secret.name, permission);

      const rule = rules.get(secret.name)!;
      const schedule = new secretsmanager.CfnRotationSchedule(this, `Schedule-${secret.name}`, {
        secretId: secret.secretId,
        rotationLambdaArn: fn.function.functionArn,
        rotationRules: { scheduleExpression: rule.scheduleExpression, duration: rule.duration },
        // A deployment never rotates: Secrets Manager only runs the testSecret step to check the setup.
        rotateImmediatelyOnUpdate: false,
      });
      // Creating or updating the schedule already invokes the function (testSecret), and the first
      // rotation must not fail on access: Secrets Manager's invoke permission and the role's policy
      // (secrets, key, table) are in place first.
      schedule.addResourceDependency(permission);
      schedule.node.addDependency(fn.role);
      schedules.set(secret.name, schedule);

      failureAlarms.set(
        secret.name,
        new cloudwatch.Alarm(this, `Failed-${secret.name}`, {
          alarmName: `${stack.stackName}-secret-rotation-failed-${secret.name}`,
          alarmDescription:
            `Rotation of secret "${secret.name}" failed (strategy ${secret.rotation.strategy}, schedule ${rule.scheduleExpression}): a step of the ` +
            `rotation Lambda reported RotationFailed. Run \`threadbound secrets status ${secret.name}\` for the failed step, the version stages and ` +
            'the rotation audit entries; a key that failed testSecret was not promoted, agents keep the current one.',
          metric: rotationFailedMetric(secret.name),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    this.schedules = schedules;
    this.permissions = permissions;
    this.failureAlarms = failureAlarms;

    const names = props.secrets.map((secret) => secret.name);
    this.errorsAlarm = new cloudwatch.Alarm(this, 'Errors', {
      alarmName: `${stack.stackName}-secret-rotation-errors`,
      alarmDescription:
        `The secret rotation Lambda failed (an uncaught error or a timeout, so possibly before it could report RotationFailed) while rotating one of: ${names.join(', ')}. ` +
        `Run \`threadbound secrets status NAME\` for each of them (e.g. \`threadbound secrets status ${names[0]}\`) and read the function's log group.`,
      metric: fn.function.metricErrors({ period: ROTATION_ALARM_PERIOD, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}

/** The RotationFailed metric of one secret, as the rotation handler emits it (EMF). */
export function rotationFailedMetric(secretName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: ROTATION_FAILED_METRIC,
    dimensionsMap: { service: METRICS_SERVICE, secret: secretName },
    statistic: cloudwatch.Stats.SUM,
    period: ROTATION_ALARM_PERIOD,
  });
}
