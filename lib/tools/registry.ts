import type { AgentConfig } from '../config/schema.js';
import type { ToolSpec } from '../models/port.js';
import type { ToolDefinition } from './port.js';

/** Whether an agent may run a tool, and why not. */
export type ToolDecision = { allowed: true; tool: ToolDefinition } | { allowed: false; reason: string };

/** Every tool of this deployment, by name, and the permission check the runtime applies before any call. */
export class ToolRegistry {
  private readonly tools = new Map<string, ToolDefinition>();

  constructor(tools: readonly ToolDefinition[]) {
    for (const tool of tools) {
      if (this.tools.has(tool.spec.name)) throw new Error(`tool "${tool.spec.name}" is registered twice`);
      this.tools.set(tool.spec.name, tool);
    }
  }

  /** What the model is offered: the registered tools the agent's `tools.allow` names and `tools.deny` does not. */
  offered(agent: AgentConfig): ToolSpec[] {
    return [...this.tools.values()]
      .filter((tool) => this.decide(agent, tool.spec.name).allowed)
      .map((tool) => tool.spec);
  }

  /** A registered tool's spec, whatever the permissions. */
  spec(name: string): ToolSpec | undefined {
    return this.tools.get(name)?.spec;
  }

  /** Checked before every call, whatever the model was offered: deny wins, then allow must name it. */
  decide(agent: AgentConfig, name: string): ToolDecision {
    if (agent.tools.deny.includes(name))
      return { allowed: false, reason: `tool "${name}" is denied for this agent (tools.deny)` };
    if (!agent.tools.allow.includes(name))
      return { allowed: false, reason: `tool "${name}" is not allowed for this agent (not in tools.allow)` };
    const tool = this.tools.get(name);
    if (!tool) return { allowed: false, reason: `no tool "${name}" exists` };
    return { allowed: true, tool };
  }
}
