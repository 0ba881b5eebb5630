import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { RotatingSecret, SecretVersions } from '../../rotation/ports.js';

/** SecretVersions on Secrets Manager, with the exact calls of its rotation protocol. */
export class SecretsManagerVersions implements SecretVersions {
  constructor(private readonly client: SecretsManagerClient) {}

  async describe(secretId: string): Promise<RotatingSecret> {
    const result = await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return {
      arn: result.ARN!,
      name: result.Name!,
      rotationEnabled: result.RotationEnabled ?? false,
      versions: result.VersionIdsToStages ?? {},
    };
  }

  async value(secretId: string, select: { versionId?: string; stage?: string }): Promise<string | undefined> {
    try {
      const result = await this.client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionId: select.versionId, VersionStage: select.stage }),
      );
      return result.SecretString;
    } catch (error) {
      // A pending version without a value yet is the normal first run of createSecret.
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async putPending(secretId: string, token: string, value: string): Promise<void> {
    await this.client.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        SecretString: value,
        VersionStages: ['AWSPENDING'],
      }),
    );
  }

  async moveStage(secretId: string, stage: string, toVersion: string, fromVersion: string | undefined): Promise<void> {
    await this.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: stage,
        MoveToVersionId: toVersion,
        RemoveFromVersionId: fromVersion,
      }),
    );
  }
}
