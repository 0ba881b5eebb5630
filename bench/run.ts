import { cpus } from 'node:os';
import { costPerMillionTurns, dollarsPerModelSecond, memoryByKind, PRICE_SOURCES, PRICES } from './cost-model.js';
import { type Bench, startBench } from './harness.js';
import { formatTable, rotateResults, writeResults } from './report.js';
import { benchColdStart } from './scenarios/cold-start.js';
import { benchFanOut } from './scenarios/fan-out.js';
import { benchHistory } from './scenarios/history.js';
import { benchIdleSweep } from './scenarios/idle-sweep.js';
import { benchLoad } from './scenarios/load.js';
import { benchSecrets } from './scenarios/secrets.js';
import { benchTurnOverhead } from './scenarios/turn-overhead.js';
import { round } from './stats.js';

/**
 * `npm run bench`: the platform's speed, cost and scale figures on DynamoDB Local and the local
 * workflow (offline model, zero latency, unless a scenario says otherwise). Prints a table with each
 * figure's ratio to the previous run and writes bench/results/latest.json. The scenarios live in
 * bench/scenarios/, one file each; a section that fails is reported and the others still run.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
// The handlers' EMF metric lines would drown the table (on Lambda they go to CloudWatch).
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const started = performance.now();
const previous = rotateResults();
const sectionSeconds: Record<string, number> = {};
const failures: Record<string, string> = {};
/** BENCH_SKIP=coldStart,load,… leaves sections out (their figures are then missing, not compared). */
const skipped = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
/** `npm run bench -- cold-start turn-overhead`: only the sections named (kebab or camel case); none named: all. */
const only = new Set(process.argv.slice(2).map((name) => name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())));
/** The sections that need the local stack. */
const STACK_SECTIONS = ['turnOverhead', 'fanOut', 'history', 'secrets', 'idleSweep', 'load'];
const selected = (name: string): boolean =>
  !skipped.has(name) &&
  (only.size === 0 || only.has(name) || (name === 'startStack' && STACK_SECTIONS.some((s) => only.has(s))));

/** Runs one section, timing it; a failure is recorded (and makes the run exit non-zero) instead of ending the run. */
async function section<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  if (!selected(name)) return undefined;
  const at = performance.now();
  process.stdout.write(`${name}…`);
  try {
    return await run();
  } catch (error) {
    failures[name] = error instanceof Error ? error.message : String(error);
    process.stdout.write(` FAILED: ${failures[name]}\n`);
    return undefined;
  } finally {
    sectionSeconds[name] = round((performance.now() - at) / 1000);
    if (!failures[name]) process.stdout.write(` ${sectionSeconds[name]} s\n`);
  }
}

// Cold start first, while nothing else runs in this process: synthesis bundles with esbuild and the
// imports run in fresh processes, both CPU-bound.
const coldStart = await section('coldStart', benchColdStart);

type Result<F extends (...args: never[]) => Promise<unknown>> = Awaited<ReturnType<F>> | undefined;
let bench: Bench | undefined;
let overhead: Result<typeof benchTurnOverhead>;
let fanOut: Result<typeof benchFanOut>;
let history: Result<typeof benchHistory>;
let secrets: Result<typeof benchSecrets>;
let idleSweep: Result<typeof benchIdleSweep>;
let load: Result<typeof benchLoad>;
try {
  bench = await section('startStack', startBench);
  if (bench) {
    const b = bench;
    overhead = await section('turnOverhead', () => benchTurnOverhead(b));
    fanOut = await section('fanOut', () => benchFanOut(b));
    history = await section('history', () => benchHistory(b));
    secrets = await section('secrets', () => benchSecrets(b));
    idleSweep = await section('idleSweep', () => benchIdleSweep(b.dynamo.endpoint));
    load = await section('load', () => benchLoad(b));
  }
} finally {
  await bench?.stop();
}

// The cost model: the measured per-turn counts of three kinds of turn, priced.
const memory = memoryByKind(coldStart?.functions);
const costed = { directReply: overhead?.perTurn, fanOut4At300ms: fanOut?.perTurnAt4, keyedProvider: secrets?.perTurn };
// The memory of the functions a turn invokes (the others do not enter the cost per turn).
const turnPath = new Set(Object.values(costed).flatMap((counts) => Object.keys(counts?.lambda ?? {})));
const costModel = {
  prices: PRICES,
  priceSources: PRICE_SOURCES,
  memoryMB: Object.fromEntries(Object.entries(memory).filter(([kind]) => turnPath.has(kind))),
  assumptions: [
    'per-turn counts measured on the local stack: a client submits and long-polls once (?wait=20); the authorizer answer is cached by API Gateway (5 min), so it adds no Lambda or DynamoDB cost per turn',
    'Lambda durations: workflow Tasks timed around the local invocation, API handlers as the client saw them (an upper bound); billed per invocation rounded up to 1 ms',
    'DynamoDB request units as DynamoDB Local reports them (ReturnConsumedCapacity INDEXES: item sizes, transactions doubled, index writes included)',
    'Step Functions Standard transitions: StateEntered events of the local execution (Map iterations included)',
    'left out: CloudWatch Logs ingestion, X-Ray traces, KMS requests, data transfer, storage, free tiers',
  ],
  ...Object.fromEntries(
    Object.entries(costed).flatMap(([kind, counts]) => (counts ? [[kind, costPerMillionTurns(counts, memory)]] : [])),
  ),
  dollarsPerMillionTurnsPerModelSecond: dollarsPerModelSecond(memory),
};

const final = {
  at: new Date().toISOString(),
  machine: { node: process.version, cpus: cpus().length },
  perTurnOverhead: overhead?.perTurnOverhead,
  parallel32: overhead?.parallel32,
  perTurn: overhead?.perTurn,
  fanOut,
  history,
  secrets,
  idleSweep,
  load,
  coldStart: coldStart
    ? { synthSeconds: coldStart.synthSeconds, bundles: coldStart.bundles, sourceMaps: coldStart.sourceMaps }
    : undefined,
  // A run of some sections prices nothing it did not measure (the written file keeps the last cost model).
  costModel: only.size === 0 || Object.values(costed).every(Boolean) ? costModel : undefined,
  sectionSeconds: { ...sectionSeconds, total: round((performance.now() - started) / 1000) },
  ...(Object.keys(failures).length > 0 ? { failures } : {}),
};
console.log(`\n${formatTable(final, previous)}`);
// A run of some sections keeps the other sections' figures of the run before, so the next full run
// still compares every figure with its last measurement.
const written = only.size > 0 && previous ? { ...previous, ...definedOnly(final) } : final;
console.log(`\nprices assumed (${PRICE_SOURCES.region}):`);
for (const [service, source] of Object.entries(PRICE_SOURCES))
  if (service !== 'region') console.log(`  ${service}: ${source}`);
console.log(`\nwritten: ${writeResults(written)}  (total ${final.sectionSeconds.total} s)`);
if (Object.keys(failures).length > 0) {
  console.error(`failed sections: ${Object.keys(failures).join(', ')}`);
  process.exitCode = 1;
}

/** The entries whose value is not undefined (the sections this run measured). */
function definedOnly(results: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(results).filter(([, value]) => value !== undefined));
}
