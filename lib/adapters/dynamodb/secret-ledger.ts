import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AuditEvent } from '../../audit/chain.js';
import type { RevocationQueue, RotationOutcome, RotationRecorder } from '../../rotation/ports.js';
import type { RevealReason, SecretLedger, SecretRequester, SecretStats } from '../../secrets/ports.js';
import { PartitionAuditLog } from './audit-items.js';
import { keys } from './keys.js';

/** Attempts of a counter update that meets an open transaction on the state item. */
const COUNTER_ATTEMPTS = 8;

/** The audit chain of a secret (in partition SECRET#<name>) and of an agent (AGENT#<name>). */
export const secretChain = (name: string) => `secret:${name}`;
export const agentChain = (agent: string) => `agent:${agent}`;

/**
 * SecretLedger (and the rotation's recorder and revocation queue) on the single table: one state
 * item per secret, audit chains and scheduled revocations beside it.
 */
export class DynamoSecretLedger implements SecretLedger, RotationRecorder, RevocationQueue {
  private readonly audit: PartitionAuditLog;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.audit = new PartitionAuditLog(client, tableName);
  }

  async recordAccess(name: string): Promise<{ epoch: number }> {
    // One unconditional update counts the access and returns the epoch: the cheap check that
    // makes `refresh` reach every process without any of them polling.
    const result = await this.counterUpdate(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.secretState(name),
        UpdateExpression: 'ADD accesses :one SET #kind = :kind',
        ExpressionAttributeNames: { '#kind': 'kind' },
        ExpressionAttributeValues: { ':one': 1, ':kind': 'secret' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { epoch: Number(result.Attributes?.epoch ?? 0) };
  }

  async recordReveal(
    name: string,
    requester: SecretRequester,
    details: { versionId: string; reason: RevealReason; at: string },
  ): Promise<void> {
    const event: AuditEvent = {
      type: 'secret_reveal',
      at: details.at,
      actor: `agent:${requester.agent}`,
      agent: requester.agent,
      ...withoutUndefined({ tenant: requester.tenant, sessionKey: requester.sessionKey }),
      data: {
        secret: name,
        versionId: details.versionId,
        reason: details.reason,
        ...withoutUndefined({ turnId: requester.turnId }),
      },
    };
    const { pk, sk } = keys.secretState(name);
    await this.audit.append(pk, sk, secretChain(name), event, {
      add: { reveals: 1 },
      set: { kind: 'secret', lastRevealAt: details.at, lastRevealVersionId: details.versionId },
    });
  }

  async recordDenial(name: string, requester: SecretRequester, at: string): Promise<void> {
    const event: AuditEvent = {
      type: 'secret_denied',
      at,
      actor: `agent:${requester.agent}`,
      agent: requester.agent,
      ...withoutUndefined({ tenant: requester.tenant, sessionKey: requester.sessionKey }),
      data: { secret: name, ...withoutUndefined({ turnId: requester.turnId }) },
    };
    // In the agent's chain: the name asked for may be no configured secret at all.
    const { pk, sk } = keys.agentAuditHead(requester.agent);
    await this.audit.append(pk, sk, agentChain(requester.agent), event, {
      add: { secretDenials: 1 },
      set: { kind: 'agent-audit' },
    });
    // Counted on the secret too when it is one, so its status shows refused attempts.
    await this.counterUpdate(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.secretState(name),
        UpdateExpression: 'ADD denials :one SET #kind = :kind',
        ExpressionAttributeNames: { '#kind': 'kind' },
        ExpressionAttributeValues: { ':one': 1, ':kind': 'secret' },
      }),
    );
  }

  async recordExposures(name: string, count: number): Promise<void> {
    await this.counterUpdate(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.secretState(name),
        UpdateExpression: 'ADD exposures :n SET #kind = :kind',
        ExpressionAttributeNames: { '#kind': 'kind' },
        ExpressionAttributeValues: { ':n': count, ':kind': 'secret' },
      }),
    );
  }

  async bumpEpoch(name: string, actor: string, at: string): Promise<number> {
    const { pk, sk } = keys.secretState(name);
    await this.audit.append(
      pk,
      sk,
      secretChain(name),
      { type: 'secret_refresh', at, actor, data: { secret: name } },
      { add: { epoch: 1 }, set: { kind: 'secret' } },
    );
    const state = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk, sk },
        ConsistentRead: true,
        ProjectionExpression: 'epoch',
      }),
    );
    return Number(state.Item?.epoch ?? 0);
  }

  async stats(names: string[]): Promise<Map<string, SecretStats>> {
    const stats = new Map<string, SecretStats>(
      names.map((name) => [name, { accesses: 0, reveals: 0, denials: 0, exposures: 0, epoch: 0 }]),
    );
    for (let i = 0; i < names.length; i += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
        [this.tableName]: { Keys: names.slice(i, i + 100).map((name) => keys.secretState(name)) },
      };
      while (request && Object.keys(request).length > 0) {
        const result = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const name = String(item.pk).slice('SECRET#'.length);
          stats.set(name, {
            accesses: Number(item.accesses ?? 0),
            reveals: Number(item.reveals ?? 0),
            denials: Number(item.denials ?? 0),
            exposures: Number(item.exposures ?? 0),
            epoch: Number(item.epoch ?? 0),
            ...withoutUndefined({
              lastRevealAt: item.lastRevealAt as string | undefined,
              lastRevealVersionId: item.lastRevealVersionId as string | undefined,
              lastRotatedAt: item.lastRotatedAt as string | undefined,
              lastRotatedVersionId: item.lastRotatedVersionId as string | undefined,
              lastRotationFailure: item.lastRotationFailure as SecretStats['lastRotationFailure'],
            }),
          });
        }
        request = result.UnprocessedKeys as typeof request;
      }
    }
    return stats;
  }

  /**
   * A plain update of the state item. DynamoDB refuses one (TransactionConflictException, which the
   * SDK does not retry) while an audit append's transaction holds the same item: retried here, so a
   * reveal or refresh elsewhere never fails a turn's access.
   */
  private async counterUpdate(command: UpdateCommand) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.client.send(command);
      } catch (error) {
        if ((error as Error).name !== 'TransactionConflictException' || attempt >= COUNTER_ATTEMPTS) throw error;
        await sleep(Math.random() * 10 * 2 ** attempt);
      }
    }
  }

  async recordRotation(name: string, outcome: RotationOutcome): Promise<void> {
    const { pk, sk } = keys.secretState(name);
    const succeeded = outcome.status === 'succeeded';
    const event: AuditEvent = {
      type: succeeded ? 'secret_rotated' : 'secret_rotation_failed',
      at: outcome.at,
      actor: 'rotation',
      data: {
        secret: name,
        step: outcome.step,
        versionId: outcome.versionId,
        strategy: outcome.strategy,
        ...withoutUndefined({ error: outcome.error }),
      },
    };
    await this.audit.append(
      pk,
      sk,
      secretChain(name),
      event,
      succeeded
        ? {
            set: { kind: 'secret', lastRotatedAt: outcome.at, lastRotatedVersionId: outcome.versionId },
            remove: ['lastRotationFailure'],
          }
        : {
            set: {
              kind: 'secret',
              lastRotationFailure: {
                at: outcome.at,
                step: outcome.step,
                versionId: outcome.versionId,
                error: outcome.error ?? 'unknown',
              },
            },
          },
    );
  }

  async lastRotatedVersion(name: string): Promise<string | undefined> {
    const state = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.secretState(name),
        ConsistentRead: true,
        ProjectionExpression: 'lastRotatedVersionId',
      }),
    );
    return state.Item?.lastRotatedVersionId as string | undefined;
  }

  async schedule(name: string, versionId: string, notBefore: string): Promise<void> {
    // A version id, never the key: the rotation reads the value back from Secrets Manager to revoke it.
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.secretRevocation(name, versionId), kind: 'revocation', versionId, notBefore },
      }),
    );
  }

  async due(name: string, now: string): Promise<string[]> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        FilterExpression: 'notBefore <= :now',
        ExpressionAttributeValues: { ':pk': keys.secretState(name).pk, ':prefix': 'REVOKE#', ':now': now },
        ConsistentRead: true,
      }),
    );
    return (result.Items ?? []).map((item) => String(item.versionId));
  }

  async done(name: string, versionId: string): Promise<void> {
    await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: keys.secretRevocation(name, versionId) }),
    );
  }
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
