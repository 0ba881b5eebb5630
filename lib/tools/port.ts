import type { ToolSpec } from '../models/port.js';

/** Where a tool runs: the agent, its thread and turn (tools are scoped to them), and the turn's deadline. */
export interface ToolContext {
  agent: string;
  tenant: string;
  sessionKey: string;
  turnId: string;
  /** The agent's `tools.httpAllowHosts`. */
  httpAllowHosts: readonly string[];
  signal: AbortSignal;
}

/** A tool: what the model is told about it, and what running it does. Its result is text for the model. */
export interface ToolDefinition {
  spec: ToolSpec;
  run(input: Record<string, unknown>, context: ToolContext): Promise<string>;
}

/** A tool refused its input or could not do the job; the model gets the message as an error result. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly code = 'tool_failed';
}

/** Notes an agent keeps in its thread (memory.read / memory.write), beside the thread's messages. */
export interface ThreadNotes {
  read(tenant: string, sessionKey: string, key?: string): Promise<{ key: string; value: string; updatedAt: string }[]>;
  /** Writes only while `turnId` holds the thread's lease: a turn that lost its lease writes nothing. */
  write(tenant: string, sessionKey: string, turnId: string, key: string, value: string, at: string): Promise<void>;
}
