// The model port owns its types: it knows nothing of turns, threads or their storage (a thread's
// Message and a turn's SubAgentOutcome carry more, and are passed as these).

/** A message of the thread's memory, as a model sees it. */
export interface MemoryMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** What a sub-agent came back with, as the coalescing model sees it. */
export interface SubAgentAnswer {
  agent: string;
  status: 'succeeded' | 'failed' | 'timed_out';
  reply?: string;
  error?: string;
}

/** One model the chain tried, and what happened. */
export interface ModelAttempt {
  model: string;
  outcome: 'answered' | 'unavailable' | 'skipped' | 'failed';
  reason?: string;
  status?: number;
  ms?: number;
}

/** What an agent asks of a model. */
export interface ModelRequest {
  agent: string;
  /** main: answer or plan a fan-out; sub: do a sub-agent's task; coalesce: merge sub-agent results. */
  role: 'main' | 'sub' | 'coalesce';
  input: string;
  /** The thread's memory, oldest first, already cut to the agent's limits. */
  memory: MemoryMessage[];
  /** Sub-agents this agent may hand work to (role main). */
  subAgents: string[];
  /** Sub-agent outcomes to merge (role coalesce). */
  results?: SubAgentAnswer[];
  /** Tools the model may call in this turn (already filtered to what the agent is allowed to see). */
  tools?: ToolSpec[];
  /**
   * What happened so far in this turn's tool loop, after `input`: the model's tool calls and the
   * results they got, in order. Empty on the first call.
   */
  steps?: ToolStep[];
  signal: AbortSignal;
}

/** A tool as a model sees it: a name, what it does, and the JSON Schema of its input. */
export interface ToolSpec {
  /** Dotted names ("memory.read") are sent to providers with "." replaced by "__" (their name rules). */
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** A model's request to run a tool. `id` is the provider's call id, echoed in the result. */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** What a tool call returned (or why it was not run): `isError` marks a failure or a denial. */
export interface ToolResult {
  id: string;
  name: string;
  content: string;
  isError?: boolean;
}

/** One round of the tool loop: the model's text and calls, then the results it got back. */
export interface ToolStep {
  text: string;
  calls: ToolCall[];
  results: ToolResult[];
}

/** A model's answer: text, a plan of sub-agent tasks, or tool calls to run before it answers. */
export interface ModelReply {
  text: string;
  /** When present, the model wants these tools run and their results sent back before it answers. */
  toolCalls?: ToolCall[];
  plan?: { agent: string; task: string }[];
  /** The agent that merges the sub-agent results (default: the planning agent). */
  coalesceWith?: string;
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
    options?: { cause?: unknown; status?: number; retryAfterMs?: number },
  ) {
    super(message, options);
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }

  readonly status: number | undefined;
  /** The provider's Retry-After (429/503), in ms: the circuit breaker skips the provider at least that long. */
  readonly retryAfterMs: number | undefined;
}
