import type { SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { readLocalEndpoints } from './connection.js';
import { CliError } from './errors.js';

/** Where `secrets create` stores values, and how to say so (never a credential). */
export interface SecretsManagerTarget {
  config: SecretsManagerClientConfig;
  description: string;
  local: boolean;
}

/** The region and credentials the local Secrets Manager endpoint accepts. */
const LOCAL_CLIENT = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } as const;

/**
 * Which Secrets Manager to talk to:
 * 1. AWS_ENDPOINT_URL_SECRETS_MANAGER (the SDK's own variable) when set;
 * 2. else, unless --aws, the endpoint of a running local stack (`<dataDir>/local.json`), with the
 *    region and dummy credentials it accepts;
 * 3. else AWS, through the SDK's default region and credential chain.
 * Region and credentials in the given environment are passed on explicitly, so a caller's `env`
 * (not only process.env) decides.
 */
export function secretsManagerTarget(
  input: { env: Readonly<Record<string, string | undefined>>; cwd: string },
  forceAws: boolean,
): SecretsManagerTarget {
  const { env } = input;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  const fromEnv: SecretsManagerClientConfig = {
    ...(region ? { region } : {}),
    ...(credentials ? { credentials } : {}),
  };
  if (env.AWS_ENDPOINT_URL_SECRETS_MANAGER) {
    return {
      config: { ...fromEnv, endpoint: env.AWS_ENDPOINT_URL_SECRETS_MANAGER },
      description: `Secrets Manager at ${env.AWS_ENDPOINT_URL_SECRETS_MANAGER} (AWS_ENDPOINT_URL_SECRETS_MANAGER)`,
      local: false,
    };
  }
  if (!forceAws) {
    const local = readLocalEndpoints(input);
    if (local?.secretsManagerEndpoint) {
      return {
        config: { ...LOCAL_CLIENT, endpoint: local.secretsManagerEndpoint },
        description: `the local stack's Secrets Manager at ${local.secretsManagerEndpoint} (${local.file})`,
        local: true,
      };
    }
  }
  return { config: fromEnv, description: `AWS Secrets Manager${region ? ` in ${region}` : ''}`, local: false };
}

/** What storing a value did. */
export interface StoredSecretVersion {
  action: 'created' | 'updated';
  versionId: string;
  stages: string[];
}

/**
 * Stores a value as a new version of a secret: CreateSecret (Name = the secret id) and, when the
 * secret exists, PutSecretValue (a new AWSCURRENT). With `pending`, only PutSecretValue with
 * VersionStages ['AWSPENDING'] (an operator's new key for a staged rotation); the secret must
 * exist, since Secrets Manager makes a secret's first version AWSCURRENT whatever is asked.
 * A secret the config imports by ARN is never created, only given a new version.
 */
export async function storeSecretValue(
  target: SecretsManagerTarget,
  secretId: string,
  value: string,
  options: { pending: boolean },
): Promise<StoredSecretVersion> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  const client = new sdk.SecretsManagerClient({ maxAttempts: 2, ...target.config });
  const isArn = secretId.startsWith('arn:');
  try {
    if (options.pending) {
      const put = await client.send(
        new sdk.PutSecretValueCommand({ SecretId: secretId, SecretString: value, VersionStages: ['AWSPENDING'] }),
      );
      return { action: 'updated', versionId: put.VersionId ?? '?', stages: put.VersionStages ?? ['AWSPENDING'] };
    }
    if (!isArn) {
      try {
        const created = await client.send(new sdk.CreateSecretCommand({ Name: secretId, SecretString: value }));
        return { action: 'created', versionId: created.VersionId ?? '?', stages: ['AWSCURRENT'] };
      } catch (error) {
        if ((error as Error).name !== 'ResourceExistsException') throw error;
      }
    }
    const put = await client.send(new sdk.PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
    return { action: 'updated', versionId: put.VersionId ?? '?', stages: put.VersionStages ?? ['AWSCURRENT'] };
  } catch (error) {
    throw asCliError(error, target, secretId, options.pending);
  } finally {
    client.destroy();
  }
}

function asCliError(error: unknown, target: SecretsManagerTarget, secretId: string, pending: boolean): CliError {
  if (error instanceof CliError) return error;
  const name = (error as Error).name || 'Error';
  // The SDK's and Secrets Manager's messages name the secret and the problem, never the value sent.
  const message = (error as Error).message || name;
  if (name === 'ResourceNotFoundException' && pending) {
    return new CliError(
      'secret_not_found',
      `secret ${secretId} does not exist in ${target.description}: create it first (without --pending), then stage the new value`,
    );
  }
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || name === 'TimeoutError') {
    const hint = target.local ? ': is `npm start` still running? (pass --aws for AWS)' : '';
    return new CliError('unreachable', `cannot reach ${target.description} (${code ?? name})${hint}`);
  }
  if (/region is missing/i.test(message))
    return new CliError('no_region', `${message}: set AWS_REGION (or run \`npm start\` to use the local stack)`);
  return new CliError(name, message);
}
