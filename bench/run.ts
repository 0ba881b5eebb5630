import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal } from '../infra/local/dynamodb-local.js';
import { ensureTable } from '../infra/local/table.js';
import { parseConfig } from '../lib/config/load.js';
import { sweepIdleThreads } from '../lib/maintenance/idle-sweep.js';
import { createDocumentClient } from '../lib/store/dynamodb/client.js';
import { DynamoThreadStore } from '../lib/store/dynamodb/thread-store.js';
import type { Thread } from '../lib/threads/model.js';
import { ThreadService } from '../lib/threads/service.js';
import { TurnService } from '../lib/turns/service.js';
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

  // 4. Idle sweep: items read and time versus table size (100 idle threads each time).
  const idleSweep: Record<string, { threads: number; idle: number; itemsRead: number; threadsCleaned: number; durationMs: number }> = {};
  for (const size of [1_000, 10_000]) idleSweep[String(size)] = await benchSweep(dynamo.endpoint, size, 100);

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
      // thread at submit, and the thread + turn fencing checks in the agent and at the finish. Once
      // a thread's history is longer than memory.maxTurns (as here), one batch deletes the exchange
      // that falls out of the window.
      floor: { TransactWriteItemsCommand: 2, QueryCommand: 1, GetItemCommand: 6, BatchWriteItemCommand: 1 },
    },
    fanOut: { subAgentLatencyMs: SUB_AGENT_LATENCY_MS, byCount: fanOut },
    idleSweep,
  };
  await stack.stop();
  await dynamo.stop();
  report(results);
}

/** Fills a fresh table with `size` live threads, `idle` of them inactive for an hour, and sweeps once. */
async function benchSweep(endpoint: string, size: number, idle: number) {
  const tableName = `bench-sweep-${size}`;
  const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  await ensureTable(raw, tableName);
  const client = createDocumentClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const store = new DynamoThreadStore(client, tableName);
  const config = parseConfig({ threadManagement: { maxThreads: 100_000 }, agents: { plain: agent(['offline'], { maxActiveThreads: 100_000 }) } });
  const now = Date.now();
  const items = Array.from({ length: size }, (_, i) => {
    const at = new Date(i < idle ? now - 3_600_000 : now - (i % 600) * 1000).toISOString();
    const thread: Thread = {
      tenant: 'bench', sessionKey: `t-${i}`, threadId: `thr_${i}`, agent: 'plain', mode: 'thread-bound', status: 'active', generation: 1, version: 1,
      createdAt: at, lastActiveAt: at, turnCount: 0, messageSeq: 0, memoryFloorSeq: 0, queueSeq: 0, queuedTurns: 0, fencingSeq: 0, metadata: {}, auditSeq: 0, auditHash: '0'.repeat(64),
    };
    return store.threadItem(thread);
  });
  for (let i = 0; i < items.length; i += 25) {
    let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    while (requests.length > 0) {
      const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  }
  await client.send(new UpdateCommand({ TableName: tableName, Key: { pk: `AGENT#plain`, sk: 'COUNTERS' }, UpdateExpression: 'SET activeThreads = :n', ExpressionAttributeValues: { ':n': size } }));
  await client.send(new UpdateCommand({ TableName: tableName, Key: { pk: 'DEPLOYMENT', sk: 'COUNTERS' }, UpdateExpression: 'SET activeThreads = :n', ExpressionAttributeValues: { ':n': size } }));
  const threads = new ThreadService(config, store);
  const turns = new TurnService(config, store, { start: async () => undefined });
  const report = await sweepIdleThreads({ config, store, threads, turns });
  client.destroy();
  raw.destroy();
  return { threads: size, idle, itemsRead: report.itemsRead, threadsCleaned: report.threadsCleaned, durationMs: report.durationMs };
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
