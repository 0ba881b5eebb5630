/** The benchmark's deployment config: what each scenario's agents are. */

/** Latency of each sub-agent's model in the fan-out scenario (the `test` provider sleeps this long). */
export const SUB_AGENT_LATENCY_MS = 300;
/** Sub-agents of the fan-out lead: w1…w8. */
export const WORKERS = Array.from({ length: 8 }, (_, i) => `w${i + 1}`);
/** Memory window of the `recall` agent, in turns (two messages each): 25 turns = 50 messages. */
export const RECALL_MEMORY_TURNS = 25;
/** The secret (config name) holding the keyed agent's provider key. */
export const KEYED_SECRET = 'openai-bench-key';
/** Where that secret lives in the local Secrets Manager. */
export const KEYED_SECRET_ID = 'threadbound/bench/openai-key';

/** One agent with limits far above what the benchmark reaches, so no limit shapes a figure. */
export const benchAgent = (models: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  models,
  maxActiveThreads: 20_000,
  maxConcurrentTurns: 1_000,
  timeout: '30s',
  memory: { maxTurns: 20, maxAge: '24h', maxBytes: 100_000 },
  ...extra,
});

/**
 * plain: offline model (zero latency), the turn-overhead, load and cost figures; lead + w1…w8: the
 * fan-out; recall: a 50-message memory window (history length); keyed: an `openai:` model whose key
 * comes from Secrets Manager, served by a loopback fake at `openaiUrl`.
 */
export function benchConfig(openaiUrl: string): Record<string, unknown> {
  return {
    threadManagement: { maxThreads: 50_000, onBusy: 'reject' },
    agents: {
      plain: benchAgent(['offline']),
      lead: benchAgent(['offline'], { subAgents: WORKERS, maxChildren: WORKERS.length, maxSpawnDepth: 1 }),
      ...Object.fromEntries(WORKERS.map((w) => [w, benchAgent([`test:delay=${SUB_AGENT_LATENCY_MS}`])])),
      recall: benchAgent(['offline'], {
        memory: { maxTurns: RECALL_MEMORY_TURNS, maxAge: '24h', maxBytes: 1_000_000 },
      }),
      keyed: benchAgent(['openai:gpt-bench'], { secrets: [KEYED_SECRET] }),
    },
    secrets: { [KEYED_SECRET]: { source: `aws-secretsmanager://${KEYED_SECRET_ID}`, cacheDuration: '1h' } },
    providers: { openai: { apiKeySecret: KEYED_SECRET, baseUrl: openaiUrl } },
  };
}
