/** Where a turn is running, for events recorded outside the thread's own chain. */
export interface TurnScope {
  agent: string;
  tenant: string;
  sessionKey: string;
  turnId: string;
}

/**
 * Events of an agent's work that are recorded as they happen, in the agent's own audit chain
 * (`AGENT#<agent>`): the thread's chain is written only by the turn's lease-fenced transitions.
 */
export interface AgentEvents {
  /** A tool call refused by the agent's tool permissions (the tool did not run). */
  toolDenied(scope: TurnScope, details: { tool: string; reason: string; at: string }): Promise<void>;
  /** A model of the chain failed and the next one was tried (`to` absent: none was left). */
  modelFallback(
    scope: TurnScope,
    details: { from: string; to?: string; reason: string; status?: number; at: string },
  ): Promise<void>;
}

/** The audit record of an operator's agent restart, in the agent's own chain (`AGENT#<agent>`). */
export interface AgentRestartAudit {
  /** One `agent_restart` entry: who restarted the agent (the admin key id) and what it changed. */
  agentRestarted(agent: string, details: { actor: string; at: string; data: Record<string, unknown> }): Promise<void>;
}
