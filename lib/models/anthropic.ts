import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { BaseAnthropic } from '@anthropic-ai/sdk/client';
import { Messages } from '@anthropic-ai/sdk/resources/messages';
import { Models } from '@anthropic-ai/sdk/resources/models';
import { callWithKey, classifyProviderError, type Key, maskKey, type ProviderFailure } from './keyed-call.js';
import {
  ModelError,
  type ModelProvider,
  type ModelReply,
  type ModelRequest,
  type ProviderCredentials,
} from './port.js';
import { alternatingTurns, lastUserMessage, SYSTEM_PROMPTS } from './prompts.js';
import { fromProviderToolName, toProviderToolName } from './tool-names.js';

/** Where the SDK sends requests unless configured otherwise (passed explicitly, so ANTHROPIC_BASE_URL is never read). */
const DEFAULT_BASE_URL = 'https://api.anthropic.com';
/** Output budget of one reply. The SDK refuses non-streaming calls above ~21k tokens. */
const DEFAULT_MAX_TOKENS = 4096;

// The SDK's `Anthropic` client constructs every resource (beta, organization, skills, files …), so a
// bundle that imports it keeps all of them (~300 KB); the base client with the two resources used
// here is the same client for these calls and lets esbuild drop the rest.
/** The Anthropic client with only the resources threadbound calls: messages and models. */
class AnthropicClient extends BaseAnthropic {
  messages = new Messages(this);
  models = new Models(this);
}

/** What a failed Anthropic call means for the model chain. */
export type AnthropicFailure = ProviderFailure;

/**
 * Classifies an error thrown by the Anthropic SDK, before anything formats it into text.
 * Rate limits (429), timeouts (408), conflicts (409), server errors (>= 500, 529 included),
 * connection failures and aborts are retryable; 401/403 refuse the key; every other error
 * (400, 404, 422, client-side SDK errors …) is not retryable. Pure: reads only its arguments.
 */
export function classifyAnthropicError(error: unknown, signal?: AbortSignal): AnthropicFailure {
  return classifyProviderError(error, signal, {
    isAbort: (e) => e instanceof APIUserAbortError,
    // APIConnectionTimeoutError is a subclass: the SDK's own timeout.
    isConnection: (e) => e instanceof APIConnectionError,
    describe: (e) =>
      e instanceof APIError && typeof e.status === 'number'
        ? {
            status: e.status,
            message: `HTTP ${e.status}${e.type ? ` ${e.type}` : ''}: ${e.apiMessage ?? e.message}`,
            headers: e.headers,
          }
        : undefined,
  });
}

/** The turn's tool loop so far: each round as the assistant's tool_use blocks, then the user's tool_result blocks. */
function stepMessages(request: ModelRequest): Anthropic.MessageParam[] {
  return (request.steps ?? []).flatMap((step): Anthropic.MessageParam[] => [
    {
      role: 'assistant',
      content: [
        ...(step.text.trim() ? [{ type: 'text' as const, text: step.text }] : []),
        ...step.calls.map((call) => ({
          type: 'tool_use' as const,
          id: call.id,
          name: toProviderToolName(call.name),
          input: call.input,
        })),
      ],
    },
    {
      role: 'user',
      content: step.results.map((result) => ({
        type: 'tool_result' as const,
        tool_use_id: result.id,
        content: result.content,
        ...(result.isError ? { is_error: true } : {}),
      })),
    },
  ]);
}

/**
 * `anthropic:<model>` through the official SDK. The key comes from `credentials` on every call;
 * one client is kept per key version, so a rotated key gets a new client. The SDK never retries
 * (`maxRetries: 0`): the model chain decides about retries and fallback. A refused key (401/403)
 * is refetched once and the call retried once with the new version; refused again, the model is
 * given up (retryably, so the chain falls back).
 */
export class AnthropicProvider implements ModelProvider {
  readonly id: string;
  private client: { versionId: string; value: string; client: AnthropicClient } | undefined;

  constructor(
    private readonly model: string,
    private readonly credentials: ProviderCredentials,
    private readonly options: { baseUrl?: string; maxTokens?: number } = {},
  ) {
    this.id = `anthropic:${model}`;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    return callWithKey({
      model: this.id,
      credentials: this.credentials,
      signal: request.signal,
      classify: classifyAnthropicError,
      call: (key) => this.call(key, request),
    });
  }

  private async call(key: Key, request: ModelRequest): Promise<ModelReply> {
    const message = await this.clientFor(key).messages.create(
      {
        model: this.model,
        max_tokens: this.options.maxTokens ?? DEFAULT_MAX_TOKENS,
        system: SYSTEM_PROMPTS[request.role](request),
        messages: [...alternatingTurns(request.memory, lastUserMessage(request)), ...stepMessages(request)],
        ...(request.tools && request.tools.length > 0
          ? {
              tools: request.tools.map((tool) => ({
                name: toProviderToolName(tool.name),
                description: tool.description,
                input_schema: tool.inputSchema as Anthropic.Tool.InputSchema,
              })),
            }
          : {}),
      },
      { signal: request.signal },
    );
    const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
    const toolCalls = message.content.flatMap((block) =>
      block.type === 'tool_use'
        ? [
            {
              id: block.id,
              name: fromProviderToolName(block.name),
              input: (block.input ?? {}) as Record<string, unknown>,
            },
          ]
        : [],
    );
    return { text, model: this.id, ...(toolCalls.length > 0 ? { toolCalls } : {}) };
  }

  private clientFor(key: Key): AnthropicClient {
    if (this.client?.versionId !== key.versionId || this.client.value !== key.value) {
      this.client = {
        versionId: key.versionId,
        value: key.value,
        client: new AnthropicClient({
          apiKey: key.value,
          baseURL: this.options.baseUrl ?? DEFAULT_BASE_URL,
          maxRetries: 0,
        }),
      };
    }
    return this.client.client;
  }
}

/**
 * Proves a key against the Anthropic API with the cheapest authenticated call (list one model, no
 * tokens spent); throws a non-retryable ModelError when the key is refused.
 */
export async function verifyAnthropicKey(
  key: string,
  options: { baseUrl?: string; signal?: AbortSignal } = {},
): Promise<void> {
  const client = new AnthropicClient({ apiKey: key, baseURL: options.baseUrl ?? DEFAULT_BASE_URL, maxRetries: 0 });
  try {
    await client.models.list({ limit: 1 }, { signal: options.signal ?? AbortSignal.timeout(10_000) });
  } catch (error) {
    const failure = classifyAnthropicError(error, options.signal);
    throw new ModelError(
      maskKey(`anthropic key check failed: ${failure.message}`, key),
      'anthropic',
      failure.retryable,
      { status: failure.status, cause: error },
    );
  }
}
