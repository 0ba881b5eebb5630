import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  ResourceNotFoundException,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretError } from '../../secrets/errors.js';
import type {
  RotationSettings,
  SecretControl,
  SecretMetadata,
  SecretSource,
  SecretVersion,
} from '../../secrets/ports.js';

/**
 * Secrets Manager behind the ports: values are always the AWSCURRENT version, so a rotation in
 * flight (AWSPENDING) is never served; metadata and rotation for operators.
 */
export class SecretsManagerSource implements SecretSource, SecretControl {
  constructor(private readonly client: SecretsManagerClient) {}

  async current(secretId: string): Promise<SecretVersion> {
    try {
      const result = await this.client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
      );
      if (result.SecretString === undefined || !result.VersionId) {
        throw new SecretError(
          'secret_unavailable',
          `secret "${secretId}" has no string value (binary secrets are not supported)`,
          { secretId },
        );
      }
      return { value: result.SecretString, versionId: result.VersionId };
    } catch (error) {
      if (error instanceof SecretError) throw error;
      if (error instanceof ResourceNotFoundException) {
        throw new SecretError(
          'secret_not_found',
          `secret "${secretId}" has no current value in Secrets Manager`,
          { secretId },
          { cause: error },
        );
      }
      // Only the error's name: an SDK error carries the request, never the response value, but
      // nothing here needs more than the name and the message.
      throw new SecretError(
        'secret_unavailable',
        `Secrets Manager refused or failed GetSecretValue for "${secretId}": ${(error as Error).name}: ${(error as Error).message}`,
        { secretId },
        { cause: error },
      );
    }
  }

  async previous(secretId: string): Promise<SecretVersion | undefined> {
    try {
      const result = await this.client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSPREVIOUS' }),
      );
      return result.SecretString === undefined || !result.VersionId
        ? undefined
        : { value: result.SecretString, versionId: result.VersionId };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw new SecretError(
        'secret_unavailable',
        `Secrets Manager failed GetSecretValue (AWSPREVIOUS) for "${secretId}": ${(error as Error).name}`,
        { secretId },
        { cause: error },
      );
    }
  }

  async describe(secretId: string): Promise<SecretMetadata | undefined> {
    try {
      const result = await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
      const versions: Record<string, string[]> = {};
      for (const [versionId, stages] of Object.entries(result.VersionIdsToStages ?? {})) {
        for (const stage of stages) versions[stage] = [...(versions[stage] ?? []), versionId];
      }
      const dates = {
        lastRotatedDate: result.LastRotatedDate,
        nextRotationDate: result.NextRotationDate,
        lastChangedDate: result.LastChangedDate,
        lastAccessedDate: result.LastAccessedDate,
        deletedDate: result.DeletedDate,
      };
      return {
        arn: result.ARN!,
        versions,
        rotationEnabled: result.RotationEnabled ?? false,
        ...Object.fromEntries(
          Object.entries(dates).flatMap(([field, date]) => (date ? [[field, date.toISOString()]] : [])),
        ),
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw new SecretError(
        'secret_unavailable',
        `Secrets Manager failed DescribeSecret for "${secretId}": ${(error as Error).name}`,
        { secretId },
        { cause: error },
      );
    }
  }

  async rotate(secretId: string, settings?: RotationSettings): Promise<{ versionId: string; reattempted: boolean }> {
    const rotation = settings
      ? {
          RotationLambdaARN: settings.functionArn,
          RotationRules: {
            ScheduleExpression: settings.schedule,
            ...(settings.window ? { Duration: settings.window } : {}),
          },
        }
      : {};
    try {
      const result = await this.client.send(new RotateSecretCommand({ SecretId: secretId, ...rotation }));
      return { versionId: result.VersionId!, reattempted: false };
    } catch (error) {
      if (error instanceof ResourceNotFoundException)
        throw new SecretError(
          'secret_not_found',
          `secret "${secretId}" does not exist in Secrets Manager`,
          { secretId },
          { cause: error },
        );
      if (error instanceof InvalidRequestException && /previous rotation isn.t complete/i.test(error.message)) {
        // Documented: AWSPENDING on a version other than AWSCURRENT's is a rotation in progress,
        // which Secrets Manager runs again (an operator's staged key, or a failed attempt).
        const pending = Object.entries(
          (await this.client.send(new DescribeSecretCommand({ SecretId: secretId }))).VersionIdsToStages ?? {},
        ).find(([, stages]) => stages.includes('AWSPENDING'));
        return { versionId: pending?.[0] ?? 'unknown', reattempted: true };
      }
      if (error instanceof InvalidRequestException)
        throw new SecretError(
          'rotation_refused',
          `Secrets Manager refused to rotate "${secretId}": ${error.message}`,
          { secretId },
          { cause: error },
        );
      throw new SecretError(
        'secret_unavailable',
        `Secrets Manager failed RotateSecret for "${secretId}": ${(error as Error).name}`,
        { secretId },
        { cause: error },
      );
    }
  }
}
