import Anthropic, { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { Message } from '../turns/model.js';
import { ModelError, type ModelProvider, type ModelReply, type ModelRequest, type ProviderCredentials } from './port.js';
import { alternatingTurns, lastUserMessage, SYSTEM_PROMPTS } from './prompts.js';
import { retryAfterMs } from './retry-after.js';
import { fromProviderToolName, toProviderToolName } from './tool-names.js';

/** Where the SDK sends requests unless configured otherwise (passed explicitly, so ANTHROPIC_BASE_URL is never read). */
const DEFAULT_BASE_URL = 'https://api.anthropic.com';
/** Output budget of one reply. The SDK refuses non-streaming calls above ~21k tokens. */
const DEFAULT_MAX_TOKENS = 4096;
/** Longest provider message kept in a ModelError (a proxy may answer with a whole HTML page). */
const MAX_MESSAGE = 300;

/** What a failed Anthropic call means for the model chain. */
export interface AnthropicFailure {
  /** Whether the next model of the chain may be tried. */
  retryable: boolean;
  /** 401/403: the key was refused, so it is worth refetching it once. */
  keyRefused: boolean;
  /** The HTTP status when the API answered. */
  status?: number;
  /** The API's Retry-After (429, 529), in ms: the circuit breaker skips the provider at least that long. */
  retryAfterMs?: number;
  /** What went wrong, in words: status, error type and the API's message; never a header value. */
  message: string;
}

const RETRYABLE_STATUSES = new Set([408, 409, 429]);

const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text);

/**
 * Classifies an error thrown by the Anthropic SDK, before anything formats it into text.
 * Rate limits (429), timeouts (408), conflicts (409), server errors (>= 500, 529 included),
 * connection failures and aborts are retryable; 401/403 refuse the key; every other error
 * (400, 404, 422, client-side SDK errors …) is not retryable. Pure: reads only its arguments.
 */
export function classifyAnthropicError(error: unknown, signal?: AbortSignal): AnthropicFailure {
  if (signal?.aborted || error instanceof APIUserAbortError) {
    const reason = signal?.reason as { name?: string } | undefined;
    const timedOut = reason?.name === 'TimeoutError';
    return { retryable: true, keyRefused: false, message: timedOut ? 'request timed out (deadline reached)' : 'request aborted' };
  }
  if (error instanceof APIConnectionError) {
    // APIConnectionTimeoutError is a subclass: the SDK's own timeout.
    return { retryable: true, keyRefused: false, message: clip(`connection failed: ${error.message}`) };
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const status = error.status;
    const detail = error.apiMessage ?? error.message;
    const message = clip(`HTTP ${status}${error.type ? ` ${error.type}` : ''}: ${detail}`);
    if (status === 401 || status === 403) return { retryable: false, keyRefused: true, status, message };
    const wait = retryAfterMs((name) => error.headers?.get(name));
    return { retryable: RETRYABLE_STATUSES.has(status) || status >= 500, keyRefused: false, status, message, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { retryable: false, keyRefused: false, message: clip(message) };
}

/** The turn's tool loop so far: each round as the assistant's tool_use blocks, then the user's tool_result blocks. */
function stepMessages(request: ModelRequest): Anthropic.MessageParam[] {
  return (request.steps ?? []).flatMap((step): Anthropic.MessageParam[] => [
    {
      role: 'assistant',
      content: [
        ...(step.text.trim() ? [{ type: 'text' as const, text: step.text }] : []),
        ...step.calls.map((call) => ({ type: 'tool_use' as const, id: call.id, name: toProviderToolName(call.name), input: call.input })),
      ],
    },
    { role: 'user', content: step.results.map((result) => ({ type: 'tool_result' as const, tool_use_id: result.id, content: result.content, ...(result.isError ? { is_error: true } : {}) })) },
  ]);
}

type Key = { value: string; versionId: string };

/**
 * `anthropic:<model>` through the official SDK. The key comes from `credentials` on every call;
 * one client is kept per key version, so a rotated key gets a new client. The SDK never retries
 * (`maxRetries: 0`): the model chain decides about retries and fallback. A refused key (401/403)
 * is refetched once and the call retried once with the new version; refused again, the model is
 * given up (retryably, so the chain falls back).
 */
export class AnthropicProvider implements ModelProvider {
  readonly id: string;
  private client: { versionId: string; value: string; client: Anthropic } | undefined;

  constructor(
    private readonly model: string,
    private readonly credentials: ProviderCredentials,
    private readonly options: { baseUrl?: string; maxTokens?: number } = {},
  ) {
    this.id = `anthropic:${model}`;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const key = await this.credentials.apiKey();
    let refused: { failure: AnthropicFailure; error: unknown };
    try {
      return await this.call(key, request);
    } catch (error) {
      const failure = classifyAnthropicError(error, request.signal);
      if (!failure.keyRefused) throw this.modelError(failure, error, key);
      refused = { failure, error };
    }
    const renewed = await this.credentials.apiKey({ rejectedVersion: key.versionId });
    // A key refused after the one refetch makes this model unusable, not the turn: the error is
    // retryable so the chain moves on to the next model (the audit and logs say why).
    if (renewed.versionId === key.versionId && renewed.value === key.value) {
      // The resolver has nothing newer: the same key would be refused again.
      throw this.modelError({ ...refused.failure, retryable: true }, refused.error, key, 'refused, and no newer version exists');
    }
    try {
      return await this.call(renewed, request);
    } catch (error) {
      const failure = classifyAnthropicError(error, request.signal);
      throw this.modelError(failure.keyRefused ? { ...failure, retryable: true } : failure, error, renewed, failure.keyRefused ? 'refused again after a refetch' : undefined);
    }
  }

  private async call(key: Key, request: ModelRequest): Promise<ModelReply> {
    const message = await this.clientFor(key).messages.create(
      {
        model: this.model,
        max_tokens: this.options.maxTokens ?? DEFAULT_MAX_TOKENS,
        system: SYSTEM_PROMPTS[request.role](request),
        messages: [...alternatingTurns(request.memory, lastUserMessage(request)), ...stepMessages(request)],
        ...(request.tools && request.tools.length > 0
          ? { tools: request.tools.map((tool) => ({ name: toProviderToolName(tool.name), description: tool.description, input_schema: tool.inputSchema as Anthropic.Tool.InputSchema })) }
          : {}),
      },
      { signal: request.signal },
    );
    const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
    const toolCalls = message.content.flatMap((block) =>
      block.type === 'tool_use' ? [{ id: block.id, name: fromProviderToolName(block.name), input: (block.input ?? {}) as Record<string, unknown> }] : [],
    );
    return { text, model: this.id, ...(toolCalls.length > 0 ? { toolCalls } : {}) };
  }

  private clientFor(key: Key): Anthropic {
    if (this.client?.versionId !== key.versionId || this.client.value !== key.value) {
      this.client = {
        versionId: key.versionId,
        value: key.value,
        client: new Anthropic({ apiKey: key.value, baseURL: this.options.baseUrl ?? DEFAULT_BASE_URL, maxRetries: 0 }),
      };
    }
    return this.client.client;
  }

  private modelError(failure: AnthropicFailure, cause: unknown, key: Key, keyNote?: string): ModelError {
    const what = keyNote ? `key version ${key.versionId} ${keyNote}: ` : '';
    // Belt and braces: the SDK's messages carry no request headers, but never let the key through.
    const text = `${this.id} failed: ${what}${failure.message}`;
    const message = key.value.length > 0 ? text.replaceAll(key.value, '***') : text;
    return new ModelError(message, this.id, failure.retryable, { status: failure.status, retryAfterMs: failure.retryAfterMs, cause });
  }
}

/**
 * Proves a key against the Anthropic API with the cheapest authenticated call (list one model, no
 * tokens spent); throws a non-retryable ModelError when the key is refused.
 */
export async function verifyAnthropicKey(key: string, options: { baseUrl?: string; signal?: AbortSignal } = {}): Promise<void> {
  const client = new Anthropic({ apiKey: key, baseURL: options.baseUrl ?? DEFAULT_BASE_URL, maxRetries: 0 });
  try {
    await client.models.list({ limit: 1 }, { signal: options.signal ?? AbortSignal.timeout(10_000) });
  } catch (error) {
    const failure = classifyAnthropicError(error, options.signal);
    throw new ModelError(`anthropic key check failed: ${failure.message}`.replaceAll(key, '***'), 'anthropic', failure.retryable, { status: failure.status, cause: error });
  }
}
