import type { Message, SubAgentOutcome } from '../turns/model.js';

/** What an agent asks of a model. */
export interface ModelRequest {
  agent: string;
  /** main: answer or plan a fan-out; sub: do a sub-agent's task; coalesce: merge sub-agent results. */
  role: 'main' | 'sub' | 'coalesce';
  input: string;
  /** The thread's memory, oldest first, already cut to the agent's limits. */
  memory: Message[];
  /** Sub-agents this agent may hand work to (role main). */
  subAgents: string[];
  /** Sub-agent outcomes to merge (role coalesce). */
  results?: SubAgentOutcome[];
  signal: AbortSignal;
}

/** A model's answer: text, or a plan of sub-agent tasks. */
export interface ModelReply {
  text: string;
  plan?: { agent: string; task: string }[];
  /** The agent that merges the sub-agent results (default: the planning agent). */
  mergeWith?: string;
  /** The model that produced the reply, e.g. "offline". */
  model: string;
}

/** A model provider behind the port (offline, test, and the cloud providers). */
export interface ModelProvider {
  readonly id: string;
  complete(request: ModelRequest): Promise<ModelReply>;
}

/**
 * A provider's API key for one agent's turn, resolved through the secret resolver (never from the
 * environment). `rejectedVersion` names the version the provider just refused with 401/403: the
 * resolver refetches once, unless another caller already did.
 */
export interface ProviderCredentials {
  apiKey(options?: { rejectedVersion?: string }): Promise<{ value: string; versionId: string }>;
}

/**
 * A model call failed. `retryable` says whether the next model of the chain may be tried;
 * `status` is the provider's HTTP status when it answered (401/403 mean the key was refused).
 */
export class ModelError extends Error {
  override readonly name = 'ModelError';
  readonly code = 'model_failed';

  constructor(
    message: string,
    readonly model: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.status = options?.status;
  }

  readonly status: number | undefined;
}
