import * as z from 'zod';
import { DURATION_PATTERN, durationMs } from './duration.js';

/** Agent, secret and tenant names: short, lower-case, safe inside a DynamoDB key and an ARN. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

const name = z
  .string()
  .regex(NAME_PATTERN, 'must be lower-case letters, digits and "-", starting with a letter, at most 40 characters');
const duration = z.string().regex(DURATION_PATTERN, 'must be a duration such as "30s", "30m", "1h" or "7d"');
const positiveInt = z.number().int().positive();
const modelRef = z
  .string()
  .regex(
    /^(offline|[a-z][a-z0-9-]*:[A-Za-z0-9._:/=,-]+)$/,
    'must be "offline" or "<provider>:<model>", e.g. "anthropic:claude-sonnet-4-5"',
  );
// No "__": tool names travel to providers with "." as "__", so it must not appear in a name itself.
const toolName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/, 'must be a dotted tool name such as "memory.read"')
  .refine((name) => !name.includes('__'), 'must not contain "__"');
const secretSource = z
  .string()
  .regex(
    /^(aws-secretsmanager:\/\/[A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+)$/,
    'must be "aws-secretsmanager://<secret name>" or a Secrets Manager secret ARN',
  );

/** Providers whose models need an API key, and the secret that holds it unless `providers.<id>.apiKeySecret` says otherwise. */
export const KEYED_PROVIDERS: Readonly<Record<string, { defaultSecret: string }>> = {
  anthropic: { defaultSecret: 'anthropic-api-key' },
  openai: { defaultSecret: 'openai-api-key' },
};

const providerSchema = z.strictObject({
  /** The secret holding this provider's API key (default: KEYED_PROVIDERS' default for it). */
  apiKeySecret: name.optional(),
  /** Base URL of the provider's API: a proxy, a regional endpoint, a local server. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
});

const threadManagementSchema = z.strictObject({
  /** auto: the server assigns the sessionKey when the client gives none; manual: the client must give it. */
  defaultMode: z.enum(['auto', 'manual']).default('auto'),
  /** Live (not terminated) threads across the whole deployment. */
  maxThreads: positiveInt,
  idleTimeout: duration.default('30m'),
  /** What a second turn on a busy thread gets: 409 (reject) or a place in the thread's queue (enqueue). */
  onBusy: z.enum(['reject', 'enqueue']).default('reject'),
  startupReconciliation: z.boolean().default(true),
  /** EventBridge schedule expression of the idle sweep. */
  cleanupSchedule: z
    .string()
    .regex(/^(rate\(.+\)|cron\(.+\))$/, 'must be an EventBridge rate(...) or cron(...) expression')
    .default('rate(5 minutes)'),
});

const memorySchema = z.strictObject({
  maxTurns: positiveInt,
  maxAge: duration,
  maxBytes: positiveInt,
});

const toolsSchema = z.strictObject({
  allow: z.array(toolName).default([]),
  deny: z.array(toolName).default([]),
  /** Most model → tools → model rounds in one answer; the model then answers without tools. */
  maxIterations: z.number().int().min(1).max(20).default(5),
  /** Hosts `http.get` may fetch from (exact host names, optionally with ":port"); none: it fetches nothing. */
  httpAllowHosts: z
    .array(z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/, 'must be a lower-case host name, optionally with :port'))
    .default([]),
});

const agentSchema = z.strictObject({
  description: z.string().max(500).optional(),
  /** thread-bound: one thread per sessionKey; singleton: one thread per tenant, keyed by the agent's name. */
  mode: z.enum(['thread-bound', 'singleton']).default('thread-bound'),
  models: z.array(modelRef).min(1),
  maxActiveThreads: positiveInt,
  maxConcurrentTurns: positiveInt,
  timeout: duration,
  /** Overrides threadManagement.idleTimeout for this agent's threads. */
  idleTimeout: duration.optional(),
  /** Overrides threadManagement.onBusy for this agent's threads. */
  onBusy: z.enum(['reject', 'enqueue']).optional(),
  /** On terminate, delete the thread's items (true) or keep them with status "terminated" (false). */
  autoDestroy: z.boolean().default(false),
  memory: memorySchema,
  subAgents: z.array(name).default([]),
  maxChildren: z.number().int().min(0).default(0),
  maxSpawnDepth: z.number().int().min(0).default(0),
  tools: toolsSchema.default({ allow: [], deny: [], maxIterations: 5, httpAllowHosts: [] }),
  secrets: z.array(name).default([]),
  /** Former names of this agent: reconciliation moves their threads here. */
  renamedFrom: z.array(name).default([]),
});

const rotationSchema = z.strictObject({
  schedule: z
    .string()
    .regex(/^(rate\(.+\)|cron\(.+\))$/, 'must be a rate(...) or cron(...) expression')
    .default('rate(1 day)'),
  /** Rotation window, e.g. "3h": how long Secrets Manager may take to start the rotation after the schedule fires. */
  window: duration.optional(),
  strategy: z.enum(['generated', 'staged', 'provider-admin']),
});

const secretSchema = z.strictObject({
  source: secretSource,
  cacheDuration: duration.default('1h'),
  /** When the secret string is JSON, the key whose value is the secret. */
  jsonKey: z.string().min(1).optional(),
  /** Expose the value to in-process tools under this name (never written to the Lambda environment). */
  envVar: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
    .optional(),
  rotation: rotationSchema.optional(),
});

/** The schema of threadbound.config.json. */
export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    threadManagement: threadManagementSchema,
    agents: z
      .record(name, agentSchema)
      .refine((agents) => Object.keys(agents).length > 0, 'at least one agent is required'),
    secrets: z.record(name, secretSchema).default({}),
    /** Settings per model provider (keyed by the part before ":" of a model reference). */
    providers: z
      .record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be a provider id such as "anthropic"'), providerSchema)
      .default({}),
    /** When a provider is skipped after failing (the circuit breaker, shared by every instance through the table). */
    circuitBreaker: z
      .strictObject({
        /** Consecutive retryable failures that open a provider's circuit. */
        failureThreshold: positiveInt.default(3),
        /** How long an open circuit skips the provider before one call probes it (at least the provider's Retry-After). */
        cooldown: duration.default('30s'),
      })
      .default({ failureThreshold: 3, cooldown: '30s' }),
  })
  .superRefine((config, ctx) => {
    const agentNames = new Set(Object.keys(config.agents));
    for (const [agentName, agent] of Object.entries(config.agents)) {
      const at = (...path: (string | number)[]) => ['agents', agentName, ...path];
      agent.subAgents.forEach((sub, i) => {
        if (!agentNames.has(sub))
          ctx.addIssue({ code: 'custom', path: at('subAgents', i), message: `unknown agent "${sub}"` });
        if (sub === agentName)
          ctx.addIssue({ code: 'custom', path: at('subAgents', i), message: 'an agent cannot be its own sub-agent' });
      });
      agent.secrets.forEach((secret, i) => {
        if (!(secret in config.secrets))
          ctx.addIssue({
            code: 'custom',
            path: at('secrets', i),
            message: `unknown secret "${secret}" (declare it under "secrets")`,
          });
      });
      agent.models.forEach((model, i) => {
        const secret = providerSecret(config, model);
        if (secret !== undefined && !agent.secrets.includes(secret)) {
          ctx.addIssue({
            code: 'custom',
            path: at('models', i),
            message: `"${model}" needs the API key in secret "${secret}": add it to this agent's secrets`,
          });
        }
      });
      const denied = new Set(agent.tools.deny);
      agent.tools.allow.forEach((tool, i) => {
        if (denied.has(tool))
          ctx.addIssue({
            code: 'custom',
            path: at('tools', 'allow', i),
            message: `"${tool}" is both allowed and denied`,
          });
      });
      if (agent.subAgents.length > 0 && agent.maxChildren === 0) {
        ctx.addIssue({
          code: 'custom',
          path: at('maxChildren'),
          message: 'must be at least 1 when subAgents is not empty',
        });
      }
      if (agent.mode === 'singleton' && agent.maxActiveThreads < 1) {
        ctx.addIssue({ code: 'custom', path: at('maxActiveThreads'), message: 'a singleton agent needs at least 1' });
      }
      // Refinements run even when a field already failed its own check: only measure valid durations.
      if (DURATION_PATTERN.test(agent.timeout) && durationMs(agent.timeout) > 15 * 60_000) {
        ctx.addIssue({ code: 'custom', path: at('timeout'), message: 'must be at most 15m (the Lambda limit)' });
      }
      agent.renamedFrom.forEach((old, i) => {
        if (agentNames.has(old))
          ctx.addIssue({ code: 'custom', path: at('renamedFrom', i), message: `"${old}" is still a configured agent` });
      });
    }
  });

/** The secret holding the API key of a model reference's provider, or undefined when it needs none. */
export function providerSecret(config: Pick<Config, 'providers'>, model: string): string | undefined {
  const provider = model.split(':')[0]!;
  return config.providers[provider]?.apiKeySecret ?? KEYED_PROVIDERS[provider]?.defaultSecret;
}

/** A validated configuration, defaults applied. */
export type Config = z.output<typeof configSchema>;
export type AgentConfig = Config['agents'][string];
export type SecretConfig = Config['secrets'][string];
export type ThreadManagementConfig = Config['threadManagement'];
