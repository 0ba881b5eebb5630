import type { AgentEvents } from '../../../lib/agents/events.js';
import { providerOf } from '../../../lib/models/model-chain.js';
import { logger } from '../logger.js';
import { METRIC } from '../metric-names.js';
import { emitMetric } from '../metrics.js';
import { agentAudit } from './agent-audit.js';

/**
 * Tool denials and model fallbacks: counted, logged, and audited in the agent's chain. The audit is
 * recorded on a best-effort basis: a turn never fails (nor loses its fallback's budget) because that
 * chain was busy; a failed append is logged and counted instead.
 */
export const agentEvents: AgentEvents = {
  async toolDenied(scope, details) {
    emitMetric(METRIC.toolDenied, { agent: scope.agent, tool: details.tool });
    logger.warn('tool call denied', { ...scope, tool: details.tool, reason: details.reason });
    await agentAudit.toolDenied(scope, details).catch((error: unknown) => auditFailed('tool_denied', scope, error));
  },
  async modelFallback(scope, details) {
    emitMetric(METRIC.modelFallback, { agent: scope.agent, provider: providerOf(details.from) });
    logger.warn('model fallback', {
      ...scope,
      from: details.from,
      to: details.to,
      reason: details.reason,
      status: details.status,
    });
    await agentAudit
      .modelFallback(scope, details)
      .catch((error: unknown) => auditFailed('model_fallback', scope, error));
  },
};

function auditFailed(type: string, scope: object, error: unknown): void {
  emitMetric(METRIC.auditWriteFailed, { type });
  logger.error('could not audit an agent event', { type, ...scope, error: error as Error });
}
