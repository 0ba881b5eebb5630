import { Arn, ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { Config, SecretConfig } from '../../lib/config/schema.js';
import { PLACEHOLDER_FIELD } from '../../lib/secrets/reference.js';
import { ROTATION_FUNCTION_ARN_ENV, type RotatedSecret, SecretRotation } from './secret-rotation.js';
import type { ThreadboundFunction } from './threadbound-function.js';

/** Scheme of a secret the stack creates and owns: `aws-secretsmanager://<secret name>`. */
export const OWNED_SECRET_SCHEME = 'aws-secretsmanager://';

/**
 * The placeholder every owned secret but a `generated` one is created with, marked with
 * PLACEHOLDER_FIELD so the resolver treats it as "not set yet". CloudFormation needs a value to
 * create an `AWS::SecretsManager::Secret`; the real value is put by the operator (`threadbound
 * secrets create`), never by CloudFormation. Never change it: CloudFormation generates a new value when
 * `GenerateSecretString` changes, which would overwrite the operator's value.
 */
export const SECRET_PLACEHOLDER: secretsmanager.SecretStringGenerator = {
  secretStringTemplate: JSON.stringify({ [PLACEHOLDER_FIELD]: 'not set yet: threadbound secrets create <name>' }),
  generateStringKey: 'nonce',
  passwordLength: 32,
  excludePunctuation: true,
};

/** The first value of a `generated` secret: 43 letters and digits, the format its rotation also makes. */
export const GENERATED_INITIAL_VALUE: secretsmanager.SecretStringGenerator = {
  passwordLength: 43,
  excludePunctuation: true,
};

/**
 * The only version stage an agent may read. The resolver (lib/adapters/secrets-manager/secret-source.ts)
 * always asks for `VersionStage: 'AWSCURRENT'`, so the role can be limited to it: an agent never
 * reads a pending key that rotation has not tested yet, nor a previous (revoked) one. A request
 * without VersionStage lacks the condition key and is denied.
 */
export const AGENT_VERSION_STAGE = 'AWSCURRENT';

/** The other stage an agent may read of a `generated` secret: the previous value, during the rotation window. */
export const GENERATED_EXTRA_STAGE = 'AWSPREVIOUS';

/** A complete secret ARN ends with `-` and the 6 random characters Secrets Manager appends to the name. */
const COMPLETE_ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;

/** Where a configured secret lives, from its `source`. */
export type SecretLocation =
  /** `aws-secretsmanager://<name>`: the stack creates the secret under that name and owns it. */
  | { readonly kind: 'owned'; readonly secretName: string }
  /** A Secrets Manager ARN: the secret exists elsewhere (another stack or account); the stack only references it. */
  | { readonly kind: 'arn'; readonly arn: string; readonly complete: boolean };

/**
 * Parses a secret `source` (already validated by the config schema). An ARN counts as complete when
 * it ends with `-` and 6 characters (the suffix Secrets Manager appends); otherwise it is a partial
 * ARN (without the suffix) and IAM policies name it as `<arn>-??????`. Either misreading fails
 * closed (AccessDenied), never grants another secret.
 */
export function secretLocation(source: string): SecretLocation {
  if (source.startsWith(OWNED_SECRET_SCHEME))
    return { kind: 'owned', secretName: source.slice(OWNED_SECRET_SCHEME.length) };
  if (source.startsWith('arn:')) return { kind: 'arn', arn: source, complete: COMPLETE_ARN_SUFFIX.test(source) };
  throw new Error(
    `unsupported secret source "${source}" (expected "${OWNED_SECRET_SCHEME}<name>" or a Secrets Manager secret ARN)`,
  );
}

/** The alias of the stack's secrets key. */
export function secretsKeyAlias(stackName: string): string {
  return `alias/${stackName}-secrets`;
}

/**
 * The cdk-nag reason for an owned secret without `rotation` (AwsSolutions-SMG4: no rotation
 * schedule). A secret with `rotation` gets its schedule from {@link SecretRotation} and needs none.
 */
export function rotationAcknowledgementReason(configName: string, secretName: string, secret: SecretConfig): string {
  if (secret.rotation !== undefined)
    throw new Error(
      `secret "${configName}" has rotation: its RotationSchedule satisfies AwsSolutions-SMG4, nothing to acknowledge`,
    );
  return (
    `The config gives secret "${configName}" (Secrets Manager name ${secretName}) no "rotation": threadbound does not rotate it. ` +
    'It holds an operator-owned provider API key that only the provider can reissue, so no rotation Lambda can rotate it: the operator ' +
    'rotates the key at the provider and stores the new value with `threadbound secrets create`; agents refetch it after ' +
    `cacheDuration (${secret.cacheDuration}) or at once on the provider's first authentication failure. The value is encrypted with the stack's customer managed key and only the agents that list the secret may read it.`
  );
}

/** Props of {@link ThreadboundSecrets}. */
export interface ThreadboundSecretsProps {
  /** The validated config: its `secrets` record and each agent's `secrets` list. */
  readonly config: Config;
  /** Agent Lambdas by agent name (`TurnWorkflow.agents`): each may read exactly its configured secrets. */
  readonly agents: ReadonlyMap<string, ThreadboundFunction>;
  /** The table (the rotation Lambda records outcomes and audit entries in it). */
  readonly table: dynamodb.Table;
  /** Absolute path of the config file copied into the rotation Lambda's bundle. */
  readonly configPath: string;
}

/**
 * The secrets of the config (ARCHITECTURE §6):
 *
 * - one customer managed KMS key (rotation on, alias `alias/<stack>-secrets`, retained), created
 *   only when the stack owns at least one secret;
 * - per `aws-secretsmanager://<name>` source an `AWS::SecretsManager::Secret` named exactly `<name>`,
 *   encrypted with that key and retained; CloudFormation creates it with a generated placeholder
 *   value, the operator sets the real one (`threadbound secrets create`);
 * - per ARN source a reference only (the stack does not own it, nor its key);
 * - each agent's role: `secretsmanager:GetSecretValue` on exactly its own secrets and, when any of
 *   them is owned, `kms:Decrypt` on the key only via Secrets Manager and only for those secrets'
 *   encryption context. An agent without secrets gets no Secrets Manager or KMS permission;
 * - when any secret has `rotation`, the {@link SecretRotation} (`rotation`): the rotation Lambda,
 *   its grants, one schedule and one failure alarm per rotating secret.
 *
 * `secret.grantRead` is deliberately not used: it adds `DescribeSecret` (which agents do not call),
 * does not limit the version stage, and grants `kms:Decrypt` through a key policy statement naming each role, limited to Secrets
 * Manager but not to the role's own secrets.
 */
export class ThreadboundSecrets extends Construct {
  /** The key of every secret the stack owns; undefined when the config has no `aws-secretsmanager://` source. */
  readonly key: kms.Key | undefined;
  /** Every configured secret by config name: owned (`Secret`) or referenced by ARN. */
  readonly secrets: ReadonlyMap<string, secretsmanager.ISecret>;
  /** Where each configured secret lives, by config name. */
  readonly locations: ReadonlyMap<string, SecretLocation>;
  /** The rotation Lambda, schedules and alarms; undefined when no secret has `rotation`. */
  readonly rotation: SecretRotation | undefined;

  private readonly config: Config;
  /** The IAM resource naming each secret: the owned secret's ARN, a complete ARN, or `<partial ARN>-??????`. */
  private readonly policyArns = new Map<string, string>();

  constructor(scope: Construct, id: string, props: ThreadboundSecretsProps) {
    super(scope, id);
    this.config = props.config;
    const stack = Stack.of(this);

    const locations = new Map(
      Object.entries(props.config.secrets).map(([name, secret]) => [name, secretLocation(secret.source)] as const),
    );
    this.locations = locations;

    const ownedBy = new Map<string, string>();
    for (const [name, location] of locations) {
      if (location.kind !== 'owned') continue;
      const other = ownedBy.get(location.secretName);
      if (other !== undefined)
        throw new Error(
          `secrets "${other}" and "${name}" both create the secret "${location.secretName}"; give them distinct names`,
        );
      ownedBy.set(location.secretName, name);
    }

    this.key =
      ownedBy.size === 0
        ? undefined
        : new kms.Key(this, 'Key', {
            alias: secretsKeyAlias(stack.stackName),
            description: `threadbound ${stack.stackName}: encrypts the Secrets Manager secrets this stack owns (agents' provider keys)`,
            enableKeyRotation: true,
            // Deleting the key would make every secret (and every retained version) unreadable.
            removalPolicy: RemovalPolicy.RETAIN,
          });

    const secrets = new Map<string, secretsmanager.ISecret>();
    for (const [name, location] of locations) {
      const config = props.config.secrets[name]!;
      if (location.kind === 'owned') {
        const secret = new secretsmanager.Secret(this, `Secret-${name}`, {
          secretName: location.secretName,
          description:
            `threadbound secret "${name}" (agents read it at run time). The value is set by the operator with ` +
            '`threadbound secrets create`, never by CloudFormation, which only created it with a generated placeholder.',
          encryptionKey: this.key,
          // A generated secret starts with a usable random value; any other starts with a marked
          // placeholder the resolver treats as "not set yet" (never sent to a provider).
          generateSecretString:
            config.rotation?.strategy === 'generated' ? GENERATED_INITIAL_VALUE : SECRET_PLACEHOLDER,
          // A deleted provider key is an outage: the secret outlives the stack.
          removalPolicy: RemovalPolicy.RETAIN,
        });
        secrets.set(name, secret);
        this.policyArns.set(name, secret.secretArn);
        if (config.rotation === undefined) {
          // Not rotated by threadbound: an operator-owned provider key (see the reason). A secret
          // with rotation gets its RotationSchedule below, which satisfies SMG4.
          Validations.of(secret.node.defaultChild!).acknowledge({
            id: 'AwsSolutions::AwsSolutions-SMG4',
            reason: rotationAcknowledgementReason(name, location.secretName, config),
          });
        }
      } else {
        const secret = location.complete
          ? secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${name}`, location.arn)
          : secretsmanager.Secret.fromSecretPartialArn(this, `Secret-${name}`, location.arn);
        secrets.set(name, secret);
        this.policyArns.set(name, location.complete ? location.arn : `${location.arn}-??????`);
      }
    }
    this.secrets = secrets;

    for (const [agentName, agent] of Object.entries(props.config.agents)) {
      const fn = props.agents.get(agentName);
      if (fn === undefined) throw new Error(`agent "${agentName}" has no Lambda to grant its secrets to`);
      this.grantRead(fn, agent.secrets);
    }

    const rotated: RotatedSecret[] = this.rotatedSecretNames().map((name) => {
      const location = locations.get(name)!;
      return {
        name,
        rotation: props.config.secrets[name]!.rotation!,
        secretId: secrets.get(name)!.secretArn,
        policyArn: this.policyArns.get(name)!,
        account:
          location.kind === 'owned' ? stack.account : Arn.split(location.arn, ArnFormat.COLON_RESOURCE_NAME).account!,
        owned: location.kind === 'owned',
      };
    });
    this.rotation =
      rotated.length === 0
        ? undefined
        : new SecretRotation(this, 'Rotation', {
            table: props.table,
            configPath: props.configPath,
            secrets: rotated,
            key: this.key,
          });
  }

  /** ARN of a configured secret: the owned secret's ARN (a token), or the ARN of the config. */
  secretArn(name: string): string {
    return this.secret(name).secretArn;
  }

  /** A configured secret by config name; throws for an unknown name. */
  secret(name: string): secretsmanager.ISecret {
    const secret = this.secrets.get(name);
    if (secret === undefined)
      throw new Error(`unknown secret "${name}" (configured: ${[...this.secrets.keys()].join(', ') || 'none'})`);
    return secret;
  }

  /**
   * Lets the function read the values of exactly these secrets: `secretsmanager:GetSecretValue` on
   * them, AWSCURRENT only ({@link AGENT_VERSION_STAGE}; AWSPREVIOUS too for `generated` secrets), and, for those the stack owns, `kms:Decrypt` on the stack's key, only through Secrets
   * Manager in this region and only for these secrets' encryption context (`SecretARN`). A secret
   * referenced by ARN gets no KMS grant here: its owner's key policy must allow the role (docs/infra.md).
   * Nothing is granted for an empty list.
   */
  grantRead(fn: ThreadboundFunction, names: readonly string[]): void {
    const unique = [...new Set(names)];
    if (unique.length === 0) return;
    for (const name of unique) this.secret(name);
    // A generated value may also be read as AWSPREVIOUS: verifying what a sender made with it
    // during the rotation window (SecretResolver.verify). A provider key's previous version never.
    const generated = unique.filter((name) => this.config.secrets[name]?.rotation?.strategy === 'generated');
    const others = unique.filter((name) => !generated.includes(name));
    for (const [group, stages] of [
      [others, AGENT_VERSION_STAGE],
      [generated, [AGENT_VERSION_STAGE, GENERATED_EXTRA_STAGE]],
    ] as const) {
      if (group.length === 0) continue;
      fn.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: group.map((name) => this.policyArns.get(name)!),
          conditions: { StringEquals: { 'secretsmanager:VersionStage': stages } },
        }),
      );
    }
    const owned = unique.filter((name) => this.locations.get(name)!.kind === 'owned');
    if (owned.length === 0 || this.key === undefined) return;
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com`,
            'kms:EncryptionContext:SecretARN': owned.map((name) => this.policyArns.get(name)!),
          },
        },
      }),
    );
  }

  /**
   * Lets the function see every configured secret's metadata and rotation status
   * (`secretsmanager:DescribeSecret`), never a value: no GetSecretValue, no KMS permission. For the
   * admin routes `GET /v1/secrets` and `GET /v1/secrets/{name}`. Nothing when no secret is configured.
   */
  grantDescribe(fn: ThreadboundFunction): void {
    const names = [...this.secrets.keys()];
    if (names.length === 0) return;
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:DescribeSecret'],
        resources: names.map((name) => this.policyArns.get(name)!),
      }),
    );
  }

  /**
   * Lets the function start the rotation of the secrets whose config has `rotation`, for
   * `POST /v1/secrets/{name}/rotate`: `secretsmanager:RotateSecret` on exactly those secrets and —
   * the RotateSecret API reference: "You also need lambda:InvokeFunction permissions on the rotation
   * function" — `lambda:InvokeFunction` on the rotation Lambda (its unqualified ARN, the one passed as
   * RotationLambdaARN), whose ARN the function gets as ROTATION_FUNCTION_ARN. No value, no key.
   * Nothing when no secret has `rotation`.
   */
  grantRotate(fn: ThreadboundFunction): void {
    const names = this.rotatedSecretNames();
    if (names.length === 0 || this.rotation === undefined) return;
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        // DescribeSecret: when RotateSecret answers that a previous rotation is being reattempted
        // (an operator's staged key), the caller reads which version that is. Metadata, no value.
        actions: ['secretsmanager:RotateSecret', 'secretsmanager:DescribeSecret'],
        resources: names.map((name) => this.policyArns.get(name)!),
      }),
    );
    const rotationFunction = this.rotation.handler.function;
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [rotationFunction.functionArn],
      }),
    );
    fn.function.addEnvironment(ROTATION_FUNCTION_ARN_ENV, rotationFunction.functionArn);
  }

  /** Config names of the secrets with `rotation`. */
  rotatedSecretNames(): string[] {
    return Object.entries(this.config.secrets)
      .filter(([, secret]) => secret.rotation !== undefined)
      .map(([name]) => name);
  }
}
