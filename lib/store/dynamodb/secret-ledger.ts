import { BatchGetCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditEvent } from '../../audit/chain.js';
import type { RevealReason, SecretLedger, SecretRequester, SecretStats } from '../../secrets/ports.js';
import { PartitionAuditLog } from './audit-items.js';
import { keys } from './keys.js';

/** The audit chain of a secret (in partition SECRET#<name>) and of an agent (AGENT#<name>). */
export const secretChain = (name: string) => `secret:${name}`;
export const agentChain = (agent: string) => `agent:${agent}`;

/** SecretLedger on the single table: one state item per secret, audit chains beside it. */
export class DynamoSecretLedger implements SecretLedger {
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
    const result = await this.client.send(
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

  async recordReveal(name: string, requester: SecretRequester, details: { versionId: string; reason: RevealReason; at: string }): Promise<void> {
    const event: AuditEvent = {
      type: 'secret_reveal',
      at: details.at,
      actor: `agent:${requester.agent}`,
      agent: requester.agent,
      ...withoutUndefined({ tenant: requester.tenant, sessionKey: requester.sessionKey }),
      data: { secret: name, versionId: details.versionId, reason: details.reason, ...withoutUndefined({ turnId: requester.turnId }) },
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
    await this.audit.append(pk, sk, agentChain(requester.agent), event, { add: { secretDenials: 1 }, set: { kind: 'agent-audit' } });
    // Counted on the secret too when it is one, so its status shows refused attempts.
    await this.client.send(
      new UpdateCommand({ TableName: this.tableName, Key: keys.secretState(name), UpdateExpression: 'ADD denials :one SET #kind = :kind', ExpressionAttributeNames: { '#kind': 'kind' }, ExpressionAttributeValues: { ':one': 1, ':kind': 'secret' } }),
    );
  }

  async recordExposures(name: string, count: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({ TableName: this.tableName, Key: keys.secretState(name), UpdateExpression: 'ADD exposures :n SET #kind = :kind', ExpressionAttributeNames: { '#kind': 'kind' }, ExpressionAttributeValues: { ':n': count, ':kind': 'secret' } }),
    );
  }

  async bumpEpoch(name: string, actor: string, at: string): Promise<number> {
    const { pk, sk } = keys.secretState(name);
    await this.audit.append(pk, sk, secretChain(name), { type: 'secret_refresh', at, actor, data: { secret: name } }, { add: { epoch: 1 }, set: { kind: 'secret' } });
    const state = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true, ProjectionExpression: 'epoch' }));
    return Number(state.Item?.epoch ?? 0);
  }

  async stats(names: string[]): Promise<Map<string, SecretStats>> {
    const stats = new Map<string, SecretStats>(names.map((name) => [name, { accesses: 0, reveals: 0, denials: 0, exposures: 0, epoch: 0 }]));
    for (let i = 0; i < names.length; i += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = { [this.tableName]: { Keys: names.slice(i, i + 100).map((name) => keys.secretState(name)) } };
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
            ...withoutUndefined({ lastRevealAt: item.lastRevealAt as string | undefined, lastRevealVersionId: item.lastRevealVersionId as string | undefined }),
          });
        }
        request = result.UnprocessedKeys as typeof request;
      }
    }
    return stats;
  }
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
