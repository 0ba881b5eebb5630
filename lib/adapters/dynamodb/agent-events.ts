import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AgentEvents, AgentRestartAudit, TurnScope } from '../../agents/events.js';
import type { AuditEvent } from '../../audit/chain.js';
import { PartitionAuditLog } from './audit-items.js';
import { keys } from './keys.js';
import { agentChain } from './secret-ledger.js';

/** AgentEvents on the agent's audit chain (AGENT#<agent>), with a count per event type on its head. */
export class DynamoAgentEvents implements AgentEvents, AgentRestartAudit {
  private readonly audit: PartitionAuditLog;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.audit = new PartitionAuditLog(client, tableName);
  }

  async toolDenied(scope: TurnScope, details: { tool: string; reason: string; at: string }): Promise<void> {
    await this.append(
      scope,
      {
        type: 'tool_denied',
        at: details.at,
        data: { turnId: scope.turnId, tool: details.tool, reason: details.reason },
      },
      'toolDenials',
    );
  }

  async modelFallback(
    scope: TurnScope,
    details: { from: string; to?: string; reason: string; status?: number; at: string },
  ): Promise<void> {
    const { at, ...data } = details;
    await this.append(scope, { type: 'model_fallback', at, data: { turnId: scope.turnId, ...data } }, 'modelFallbacks');
  }

  async agentRestarted(
    agent: string,
    details: { actor: string; at: string; data: Record<string, unknown> },
  ): Promise<void> {
    const { pk, sk } = keys.agentAuditHead(agent);
    await this.audit.append(
      pk,
      sk,
      agentChain(agent),
      { type: 'agent_restart', at: details.at, actor: details.actor, agent, data: details.data },
      { add: { agentRestarts: 1 }, set: { kind: 'agent-audit' } },
    );
  }

  private async append(
    scope: TurnScope,
    event: Pick<AuditEvent, 'type' | 'at' | 'data'>,
    counter: string,
  ): Promise<void> {
    const { pk, sk } = keys.agentAuditHead(scope.agent);
    await this.audit.append(
      pk,
      sk,
      agentChain(scope.agent),
      {
        ...event,
        actor: `turn:${scope.turnId}`,
        agent: scope.agent,
        tenant: scope.tenant,
        sessionKey: scope.sessionKey,
      },
      { add: { [counter]: 1 }, set: { kind: 'agent-audit' } },
    );
  }
}
