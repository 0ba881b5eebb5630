import {
  AccessDeniedException,
  type Message as BedrockMessage,
  BedrockRuntimeClient,
  type BedrockRuntimeClientConfig,
  BedrockRuntimeServiceException,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandOutput,
  InternalServerException,
  ModelErrorException,
  ModelNotReadyException,
  ModelTimeoutException,
  ServiceQuotaExceededException,
  ServiceUnavailableException,
  ThrottlingException,
  type Tool,
  type ToolUseBlock,
} from '@aws-sdk/client-bedrock-runtime';
import {
  type MemoryMessage,
  ModelError,
  type ModelProvider,
  type ModelReply,
  type ModelRequest,
  type ToolCall,
  type ToolStep,
} from './port.js';
import { alternatingTurns, lastUserMessage, SYSTEM_PROMPTS } from './prompts.js';
import { retryAfterMs } from './retry-after.js';
import { fromProviderToolName, toProviderToolName } from './tool-names.js';

/**
 * The SDK's own variable for this client's endpoint (AWS_ENDPOINT_URL_ + the serviceId
 * "Bedrock Runtime" upper-cased, spaces as "_"); a local fake or a VPC endpoint goes there, so no
 * code path differs. AWS_ENDPOINT_URL (all services) is the SDK's fallback.
 */
export const BEDROCK_ENDPOINT_ENV = 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME';
/** The SDK's JSON document type (tool inputs and schemas): JSON values, which is what the port carries. */
type Document = NonNullable<ToolUseBlock['input']>;
/** Output budget of one reply. */
const DEFAULT_MAX_TOKENS = 4096;
/** Longest service message kept in a ModelError. */
const MAX_MESSAGE = 300;

/** What a failed Bedrock call means for the model chain. */
export interface BedrockFailure {
  /** Whether the next model of the chain may be tried. */
  retryable: boolean;
  /** The HTTP status when the service answered. */
  status?: number;
  /** The service's Retry-After (a 429/503 may carry one), in ms. */
  retryAfterMs?: number;
  /** What went wrong, in words: status, exception name and the service's message. */
  message: string;
}

const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text);

/** Exceptions after which another model (or the same one later) may well answer. */
const RETRYABLE_EXCEPTIONS = [
  ThrottlingException, // 429
  ModelNotReadyException, // 429: the model is being loaded
  ServiceUnavailableException, // 503
  InternalServerException, // 500
  ModelTimeoutException, // 408
  ModelErrorException, // 424: the model failed on this request
  ServiceQuotaExceededException, // 400: a quota of this model (or account), not of the request
  AccessDeniedException, // 403: the role may not use this model; the next model may be allowed
];
const RETRYABLE_STATUSES = new Set([401, 403, 408, 429]);
/** Node's and the HTTP/2 handler's codes for a connection that failed or broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
]);

/** The Retry-After of a Bedrock error response (the raw response rides on `$response`). */
function retryAfter(error: unknown): number | undefined {
  const headers =
    (error as { $response?: { headers?: Record<string, string | undefined> } } | null)?.$response?.headers ?? {};
  return retryAfterMs((name) => Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1]);
}

/**
 * Classifies an error thrown by the Bedrock Runtime client. Throttling, a model not ready or timed
 * out, service errors (5xx), a failing model (424), an exhausted quota, broken connections and
 * aborts are retryable; so are refused credentials and denied access (401/403: this role cannot use
 * this model, the next one may work). Validation errors, unknown models (400/404) and anything
 * else are not. Reads only its arguments (and the clock, for a Retry-After given as a date).
 */
export function classifyBedrockError(error: unknown, signal?: AbortSignal): BedrockFailure {
  const name = (error as { name?: unknown } | null)?.name;
  if (signal?.aborted || name === 'AbortError') {
    const reason = signal?.reason as { name?: string } | undefined;
    return {
      retryable: true,
      message: reason?.name === 'TimeoutError' ? 'request timed out (deadline reached)' : 'request aborted',
    };
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (error instanceof BedrockRuntimeServiceException || typeof status === 'number') {
    const exception = error as Error;
    const message = clip(`HTTP ${status ?? '?'} ${exception.name}: ${exception.message}`);
    const retryable =
      RETRYABLE_EXCEPTIONS.some((Exception) => error instanceof Exception) ||
      (typeof status === 'number' && (RETRYABLE_STATUSES.has(status) || status >= 500));
    const failure: BedrockFailure = { retryable, message };
    if (typeof status === 'number') failure.status = status;
    const after = retryable ? retryAfter(error) : undefined;
    if (after !== undefined) failure.retryAfterMs = after;
    return failure;
  }
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (name === 'TimeoutError') return { retryable: true, message: clip(`request timed out: ${text}`) };
  if (
    (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('ERR_HTTP2_'))) ||
    /http2 request did not get a response|socket hang up/i.test(text)
  ) {
    return { retryable: true, message: clip(`connection failed: ${text}`) };
  }
  // The default chain found no credentials (or could not refresh them): this model cannot be used here.
  if (name === 'CredentialsProviderError') return { retryable: true, message: clip(`no AWS credentials: ${text}`) };
  return { retryable: false, message: clip(text) };
}

/**
 * Models that take a tool result's `status` (Bedrock documents it for Anthropic Claude and Amazon
 * Nova only; other models refuse the field). Matches plain ids and inference profiles
 * ("us.anthropic.claude-…"); for others a failed result says so in its text instead.
 */
const TAKES_RESULT_STATUS = /(^|[.:/])(anthropic\.claude|amazon\.nova)/;

/**
 * A request as Converse messages: the memory as alternating turns (consecutive messages of one role
 * joined, empty ones skipped, a leading assistant message dropped: Converse starts with the user),
 * then `last` as a user turn, then each tool step as an assistant turn with its text and `toolUse`
 * blocks followed by a user turn with the `toolResult` blocks.
 */
export function toConverseMessages(
  memory: MemoryMessage[],
  last: string,
  steps: ToolStep[] = [],
  options: { resultStatus?: boolean } = {},
): BedrockMessage[] {
  const messages: BedrockMessage[] = alternatingTurns(memory, last).map(({ role, content }) => ({
    role,
    content: [{ text: content }],
  }));
  const resultStatus = options.resultStatus ?? true;
  for (const step of steps) {
    if (step.calls.length === 0) continue;
    const assistant: ContentBlock[] = [
      ...(step.text.trim() === '' ? [] : [{ text: step.text }]),
      ...step.calls.map(
        (call): ContentBlock => ({
          toolUse: { toolUseId: call.id, name: toProviderToolName(call.name), input: call.input as Document },
        }),
      ),
    ];
    const results = step.results.map((result): ContentBlock => {
      // Converse refuses blank text blocks.
      const content = result.content.trim() === '' ? '(no output)' : result.content;
      if (!result.isError) return { toolResult: { toolUseId: result.id, content: [{ text: content }] } };
      if (resultStatus) return { toolResult: { toolUseId: result.id, content: [{ text: content }], status: 'error' } };
      return { toolResult: { toolUseId: result.id, content: [{ text: `Error: ${content}` }] } };
    });
    messages.push({ role: 'assistant', content: assistant });
    if (results.length > 0) messages.push({ role: 'user', content: results });
  }
  return messages;
}

let sharedClient: BedrockRuntimeClient | undefined;

/**
 * A Bedrock Runtime client with the project's settings: one attempt (the model chain decides about
 * retries and fallback, not the SDK) and SigV4 only, so credentials always come from the default
 * chain (the Lambda role), never from a bearer token in AWS_BEARER_TOKEN_BEDROCK. Region, endpoint
 * (AWS_ENDPOINT_URL_BEDROCK_RUNTIME) and credentials come from the environment unless `config`
 * overrides them.
 */
export function createBedrockClient(config: BedrockRuntimeClientConfig = {}): BedrockRuntimeClient {
  return new BedrockRuntimeClient({ maxAttempts: 1, authSchemePreference: ['sigv4'], ...config });
}

/** The module's client, created on first use (one per Lambda container). */
function defaultClient(): BedrockRuntimeClient {
  sharedClient ??= createBedrockClient();
  return sharedClient;
}

/**
 * `bedrock:<modelId>` through the Converse API. `modelId` is a model id ("anthropic.claude-…"),
 * an inference profile ("us.anthropic.claude-…") or an ARN. The credentials are the process's
 * (the Lambda role's) through the SDK's default chain: there is no secret to resolve.
 */
export class BedrockProvider implements ModelProvider {
  readonly id: string;

  constructor(
    private readonly model: string,
    private readonly options: { client?: BedrockRuntimeClient; maxTokens?: number } = {},
  ) {
    this.id = `bedrock:${model}`;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const tools: Tool[] = (request.tools ?? []).map((tool) => ({
      toolSpec: {
        name: toProviderToolName(tool.name),
        description: tool.description,
        inputSchema: { json: tool.inputSchema as Document },
      },
    }));
    const command = new ConverseCommand({
      modelId: this.model,
      system: [{ text: SYSTEM_PROMPTS[request.role](request) }],
      messages: toConverseMessages(request.memory, lastUserMessage(request), request.steps, {
        resultStatus: TAKES_RESULT_STATUS.test(this.model),
      }),
      inferenceConfig: { maxTokens: this.options.maxTokens ?? DEFAULT_MAX_TOKENS },
      ...(tools.length > 0 ? { toolConfig: { tools } } : {}),
    });
    let output: ConverseCommandOutput;
    try {
      output = await (this.options.client ?? defaultClient()).send(command, { abortSignal: request.signal });
    } catch (error) {
      const failure = classifyBedrockError(error, request.signal);
      throw new ModelError(`${this.id} failed: ${failure.message}`, this.id, failure.retryable, {
        cause: error,
        status: failure.status,
        retryAfterMs: failure.retryAfterMs,
      });
    }
    const content = output.output?.message?.content ?? [];
    const text = content.flatMap((block) => (typeof block.text === 'string' ? [block.text] : [])).join('');
    const toolCalls: ToolCall[] = content.flatMap((block) => {
      const use = block.toolUse;
      if (!use?.toolUseId || !use.name) return [];
      const input =
        typeof use.input === 'object' && use.input !== null && !Array.isArray(use.input)
          ? (use.input as Record<string, unknown>)
          : {};
      return [{ id: use.toolUseId, name: fromProviderToolName(use.name), input }];
    });
    return toolCalls.length > 0 ? { text, toolCalls, model: this.id } : { text, model: this.id };
  }
}
