import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDynamoDbLocal } from '../infra/local/dynamodb-local.js';
import { startLocalStack } from '../infra/local/stack.js';

/**
 * `npm run bench`: measures the turn path on DynamoDB Local and the local workflow, prints a
 * table and writes bench/results/latest.json; a previous result is compared figure by figure.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
const SUB_AGENT_LATENCY_MS = 300;
const FAN_OUTS = [1, 2, 4, 8];
const KEY = 'bench-key-0000000000000000000000';
const workers = Array.from({ length: 8 }, (_, i) => `w${i + 1}`);
const agent = (models: string[], extra: Record<string, unknown> = {}) => ({
  models,
  maxActiveThreads: 1000,
  maxConcurrentTurns: 1000,
  timeout: '30s',
  memory: { maxTurns: 20, maxAge: '24h', maxBytes: 100000 },
  ...extra,
});

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-'));
  const configPath = join(dir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      threadManagement: { maxThreads: 10000 },
      agents: {
        plain: agent(['offline']),
        lead: agent(['offline'], { subAgents: workers, maxChildren: 8, maxSpawnDepth: 1 }),
        ...Object.fromEntries(workers.map((w) => [w, agent([`test:delay=${SUB_AGENT_LATENCY_MS}`])])),
      },
    }),
  );
  const dynamo = await startDynamoDbLocal();
  const stack = await startLocalStack({ port: 0, dataDir: dir, configPath, dynamoEndpoint: dynamo.endpoint, localKeys: `${KEY}:bench` });
  // The handlers' own document client (same module instance), counted by a middleware.
  const context = (await import(pathToFileURL(join(process.cwd(), 'functions/shared/context.ts')).href)) as typeof import('../functions/shared/context.js');
  const requests = new Map<string, number>();
  context.documentClient.middlewareStack.add(
    (next, ctx) => async (args) => {
      requests.set(ctx.commandName ?? '?', (requests.get(ctx.commandName ?? '?') ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );

  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return response.json();
  };
  const runTurn = async (sessionKey: string, input: string) => {
    const started = performance.now();
    const { turnId } = await call('POST', `/v1/threads/${sessionKey}/turns`, { input });
    for (;;) {
      const turn = await call('GET', `/v1/threads/${sessionKey}/turns/${turnId}`);
      if (turn.status === 'succeeded') return { turn, clientMs: performance.now() - started };
      if (turn.status !== 'running' && turn.status !== 'queued') throw new Error(`turn ${turnId} ${turn.status}: ${turn.error}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const serverMs = (turn: { startedAt: string; endedAt: string }) => Date.parse(turn.endedAt) - Date.parse(turn.startedAt);


  // 1. Per-turn platform overhead (offline model, zero latency): one thread, turns one after another.
  await call('POST', '/v1/threads', { agent: 'plain', sessionKey: 'solo' });
  await runTurn('solo', 'warm up');
  const SOLO_TURNS = 40;
  const solo: number[] = [];
  const soloServer: number[] = [];
  for (let i = 0; i < SOLO_TURNS; i += 1) {
    const { turn, clientMs } = await runTurn('solo', `turn ${i}`);
    solo.push(clientMs);
    soloServer.push(serverMs(turn));
  }

  // DynamoDB requests of the turn itself (submit + workflow), without any client polling:
  // each turn is submitted and awaited through the local workflow going idle.
  requests.clear();
  const COUNTED_TURNS = 20;
  for (let i = 0; i < COUNTED_TURNS; i += 1) {
    await call('POST', '/v1/threads/solo/turns', { input: `counted ${i}` });
    await stack.stepFunctions.idle();
  }
  const perTurn = Object.fromEntries([...requests].map(([name, n]) => [name, round(n / COUNTED_TURNS)]));

  // 2. Throughput with 32 threads in parallel.
  const THREADS = 32;
  const PER_THREAD = 4;
  for (let t = 0; t < THREADS; t += 1) await call('POST', '/v1/threads', { agent: 'plain', sessionKey: `par-${t}` });
  const parallelStart = performance.now();
  const parallel = (await Promise.all(Array.from({ length: THREADS }, async (_, t) => {
    const times: number[] = [];
    for (let i = 0; i < PER_THREAD; i += 1) times.push((await runTurn(`par-${t}`, `turn ${i}`)).clientMs);
    return times;
  }))).flat();
  const parallelSeconds = (performance.now() - parallelStart) / 1000;

  // 3. Fan-out: wall time of the turn divided by its slowest sub-agent (1.0 would be perfect parallelism).
  const fanOut: Record<string, { turnMs: number; slowestSubAgentMs: number; ratio: number }> = {};
  for (const n of FAN_OUTS) {
    const samples = [];
    for (let rep = 0; rep < 3; rep += 1) {
      const key = `fan-${n}-${rep}`;
      await call('POST', '/v1/threads', { agent: 'lead', sessionKey: key });
      const { turn } = await runTurn(key, `${workers.slice(0, n).map((w) => `@${w}`).join(' ')} measure`);
      const slowest = Math.max(...turn.subAgents.map((s: { startedAt: string; endedAt: string }) => serverMs(s)));
      samples.push({ turnMs: serverMs(turn), slowestSubAgentMs: slowest, ratio: round(serverMs(turn) / slowest) });
    }
    samples.sort((a, b) => a.ratio - b.ratio);
    fanOut[String(n)] = samples[1]!;
  }

  const results = {
    machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
    perTurnOverhead: {
      turns: SOLO_TURNS,
      clientMs: percentiles(solo),
      serverMs: percentiles(soloServer),
      turnsPerSecond: round(1000 / mean(solo)),
    },
    parallel32: { threads: THREADS, turns: parallel.length, clientMs: percentiles(parallel), turnsPerSecond: round(parallel.length / parallelSeconds) },
    dynamoRequestsPerTurn: {
      ...perTurn,
      total: round(Object.values(perTurn).reduce((a, b) => a + b, 0)),
      // The floor of this design for a direct reply: the claim and the finish are one transaction
      // each, memory is one query; the reads are the API key (cached by the authorizer on AWS), the
      // thread at submit, and the thread + turn fencing checks in the agent and at the finish.
      floor: { TransactWriteItemsCommand: 2, QueryCommand: 1, GetItemCommand: 6 },
    },
    fanOut: { subAgentLatencyMs: SUB_AGENT_LATENCY_MS, byCount: fanOut },
  };
  await stack.stop();
  await dynamo.stop();
  report(results);
}

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
  return { p50: at(50), p95: at(95), p99: at(99) };
}
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const round = (n: number) => Math.round(n * 100) / 100;

function flatten(value: unknown, prefix = ''): Record<string, number> {
  if (typeof value === 'number') return { [prefix]: value };
  if (!value || typeof value !== 'object') return {};
  return Object.assign({}, ...Object.entries(value).map(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k)));
}

function report(results: Record<string, unknown>): void {
  const dir = join(process.cwd(), 'bench', 'results');
  const file = join(dir, 'latest.json');
  const previous = existsSync(file) ? flatten(JSON.parse(readFileSync(file, 'utf8'))) : undefined;
  const rows = Object.entries(flatten(results)).filter(([name]) => !name.startsWith('machine.'));
  console.log(`\n${'figure'.padEnd(52)} ${'value'.padStart(10)}${previous ? '   vs previous' : ''}`);
  for (const [name, value] of rows) {
    const before = previous?.[name];
    const ratio = before ? `   ×${round(value / before)}` : '';
    console.log(`${name.padEnd(52)} ${String(value).padStart(10)}${ratio}`);
  }
  mkdirSync(dir, { recursive: true });
  if (existsSync(file)) writeFileSync(join(dir, 'previous.json'), readFileSync(file));
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), ...results }, null, 2)}\n`);
  console.log(`\nwritten: ${file}`);
}

await main();
