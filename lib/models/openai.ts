import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletionFunctionTool, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { callWithKey, classifyProviderError, type Key, maskKey, type ProviderFailure } from './keyed-call.js';
import {
  ModelError,
  type ModelProvider,
  type ModelReply,
  type ModelRequest,
  type ProviderCredentials,
  type ToolCall,
  type ToolSpec,
  type ToolStep,
} from './port.js';
// The system prompts are shared by every provider of the chain (the chain loads anthropic.ts anyway).
import { alternatingTurns, lastUserMessage, SYSTEM_PROMPTS } from './prompts.js';
import { fromProviderToolName, toProviderToolName } from './tool-names.js';

/**
 * Base URLs of the known OpenAI-compatible providers (always passed explicitly, so the SDK never
 * reads OPENAI_BASE_URL). Any other provider id needs `options.baseUrl`.
 */
const DEFAULT_BASE_URLS: Record<string, string> = {
  openai: 'https://api.openai.com/v1',
  ollama: 'http://localhost:11434/v1',
};
/** The key sent when a provider needs none (a local Ollama): the SDK refuses to build a client without one. */
const PLACEHOLDER_KEY = 'ollama';
/** Output budget of one reply. */
const DEFAULT_MAX_TOKENS = 4096;

/** What a failed OpenAI-compatible call means for the model chain. */
export type OpenAIFailure = ProviderFailure;

/**
 * OpenAI's 401 message quotes the key masked ("Incorrect API key provided: sk-old***cdef."): the
 * visible ends are still key material, so any word carrying a run of asterisks is dropped.
 */
const redactMaskedKeys = (text: string) => text.replace(/\S*\*{3,}\S*/g, '***');

/**
 * Classifies an error thrown by the OpenAI SDK, before anything formats it into text. Rate limits
 * (429, with the API's Retry-After), timeouts (408), conflicts (409), server errors (>= 500),
 * connection failures (the SDK's own timeout included) and aborts are retryable; 401/403 refuse the
 * key; every other error (400, 404, 422, client-side SDK errors …) is not retryable. Pure apart from
 * reading the clock for a Retry-After given as a date.
 */
export function classifyOpenAIError(error: unknown, signal?: AbortSignal): OpenAIFailure {
  return classifyProviderError(error, signal, {
    isAbort: (e) => e instanceof APIUserAbortError,
    // APIConnectionTimeoutError is a subclass: the SDK's own timeout.
    isConnection: (e) => e instanceof APIConnectionError,
    describe: (e) => {
      if (!(e instanceof APIError) || typeof e.status !== 'number') return undefined;
      const body = e.error as { message?: unknown } | undefined;
      const detail = typeof body?.message === 'string' && body.message !== '' ? body.message : e.message;
      const kind = [e.type, e.code].filter((part): part is string => typeof part === 'string' && part !== '');
      const label =
        kind.length === 0 ? '' : kind.length === 2 && kind[0] !== kind[1] ? ` ${kind[0]} (${kind[1]})` : ` ${kind[0]}`;
      return { status: e.status, message: redactMaskedKeys(`HTTP ${e.status}${label}: ${detail}`), headers: e.headers };
    },
  });
}

/**
 * The tool loop so far as Chat Completions messages: per step, the assistant message with its
 * `tool_calls` (arguments as JSON text, names in the provider's form), then one `tool` message per
 * result; a failed or denied call's content starts with "ERROR: ".
 */
export function toOpenAIStepMessages(steps: ToolStep[]): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  for (const step of steps) {
    if (step.calls.length === 0 && step.text.trim() === '') continue;
    messages.push({
      role: 'assistant',
      // Content is optional next to tool_calls; some compatible servers refuse an empty string.
      ...(step.text !== '' || step.calls.length === 0 ? { content: step.text } : {}),
      ...(step.calls.length > 0
        ? {
            tool_calls: step.calls.map((call) => ({
              id: call.id,
              type: 'function' as const,
              function: { name: toProviderToolName(call.name), arguments: JSON.stringify(call.input) },
            })),
          }
        : {}),
    });
    for (const result of step.results) {
      messages.push({
        role: 'tool',
        tool_call_id: result.id,
        content: result.isError ? `ERROR: ${result.content}` : result.content,
      });
    }
  }
  return messages;
}

/** Tool specs as Chat Completions function tools. */
export function toOpenAITools(tools: ToolSpec[]): ChatCompletionFunctionTool[] {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: toProviderToolName(tool.name), description: tool.description, parameters: tool.inputSchema },
  }));
}

/** A tool call's arguments: the model's JSON object, or `{}` when it wrote something else. */
function parseArguments(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** The key of a provider without credentials (a local Ollama): a placeholder, never refetched. */
const NO_KEY: Key = { value: PLACEHOLDER_KEY, versionId: 'none' };

/**
 * `openai:<model>`, `ollama:<model>` and any other OpenAI-compatible endpoint, through the official
 * SDK's Chat Completions API (non-streaming). The key comes from `credentials` on every call (none
 * for a keyless endpoint: the placeholder "ollama" is sent); one client is kept per key version, so
 * a rotated key gets a new client. The SDK never retries (`maxRetries: 0`): the model chain decides
 * about retries and fallback. A refused key (401/403) is refetched once and the call retried once
 * with the new version; refused again, the model is given up (retryably, so the chain falls back).
 */
export class OpenAICompatibleProvider implements ModelProvider {
  readonly id: string;
  private readonly baseUrl: string;
  private client: { versionId: string; value: string; client: OpenAI } | undefined;

  constructor(
    private readonly provider: string,
    private readonly model: string,
    private readonly credentials: ProviderCredentials | undefined,
    private readonly options: { baseUrl?: string; maxTokens?: number } = {},
  ) {
    this.id = `${provider}:${model}`;
    const baseUrl = options.baseUrl ?? DEFAULT_BASE_URLS[provider];
    if (!baseUrl)
      throw new Error(
        `${this.id}: provider "${provider}" needs a baseUrl (an OpenAI-compatible endpoint, e.g. https://host/v1)`,
      );
    this.baseUrl = baseUrl;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    return callWithKey({
      model: this.id,
      credentials: this.credentials,
      fallbackKey: NO_KEY,
      signal: request.signal,
      classify: classifyOpenAIError,
      call: (key) => this.call(key, request),
    });
  }

  private async call(key: Key, request: ModelRequest): Promise<ModelReply> {
    const maxTokens = this.options.maxTokens ?? DEFAULT_MAX_TOKENS;
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: SYSTEM_PROMPTS[request.role](request) },
      ...alternatingTurns(request.memory, lastUserMessage(request)),
      ...toOpenAIStepMessages(request.steps ?? []),
    ];
    const completion = await this.clientFor(key).chat.completions.create(
      {
        model: this.model,
        messages,
        // OpenAI's reasoning models refuse the deprecated max_tokens; compatible servers (Ollama,
        // vLLM …) often know only max_tokens.
        ...(this.provider === 'openai' ? { max_completion_tokens: maxTokens } : { max_tokens: maxTokens }),
        ...(request.tools && request.tools.length > 0 ? { tools: toOpenAITools(request.tools) } : {}),
      },
      { signal: request.signal },
    );
    const choice = completion.choices?.[0];
    if (!choice) throw new ModelError(`${this.id} failed: the API answered without a choice`, this.id, true);
    const message = choice.message;
    const reply: ModelReply = { text: message.content ?? message.refusal ?? '', model: this.id };
    const toolCalls: ToolCall[] = (message.tool_calls ?? []).flatMap((call) =>
      call.type === 'function'
        ? [
            {
              id: call.id,
              name: fromProviderToolName(call.function.name),
              input: parseArguments(call.function.arguments),
            },
          ]
        : [],
    );
    if (toolCalls.length > 0) reply.toolCalls = toolCalls;
    return reply;
  }

  private clientFor(key: Key): OpenAI {
    if (this.client?.versionId !== key.versionId || this.client.value !== key.value) {
      this.client = { versionId: key.versionId, value: key.value, client: openAIClient(key.value, this.baseUrl) };
    }
    return this.client.client;
  }
}

/**
 * A client that reads nothing from the environment: the SDK would otherwise pick up OPENAI_BASE_URL,
 * OPENAI_ORG_ID, OPENAI_PROJECT_ID, OPENAI_ADMIN_KEY, OPENAI_WEBHOOK_SECRET and OPENAI_LOG (only
 * OPENAI_CUSTOM_HEADERS cannot be switched off).
 */
function openAIClient(apiKey: string, baseURL: string): OpenAI {
  return new OpenAI({
    apiKey,
    baseURL,
    maxRetries: 0,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    logLevel: 'warn',
  });
}

/**
 * Proves a key against an OpenAI-compatible API with the cheapest authenticated call (list the
 * models, no tokens spent); throws a ModelError when the key is refused (not retryable) or the call
 * fails.
 */
export async function verifyOpenAIKey(
  key: string,
  options: { baseUrl?: string; signal?: AbortSignal } = {},
): Promise<void> {
  const client = openAIClient(key, options.baseUrl ?? DEFAULT_BASE_URLS.openai!);
  try {
    await client.models.list({ signal: options.signal ?? AbortSignal.timeout(10_000) });
  } catch (error) {
    const failure = classifyOpenAIError(error, options.signal);
    const message = `openai key check failed: ${failure.message}`;
    throw new ModelError(maskKey(message, key), 'openai', failure.retryable, {
      status: failure.status,
      retryAfterMs: failure.retryAfterMs,
      cause: error,
    });
  }
}
