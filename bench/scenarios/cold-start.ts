import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PROJECT_ROOT } from '../../infra/constructs/project-paths.js';
import { BUNDLED_CONFIG_PATH } from '../../infra/constructs/threadbound-function.js';
import { buildApp, STACK_ID } from '../../infra/stacks/build-app.js';
import { median, round } from '../stats.js';

/**
 * Cold start of every deployed function. The bundles are the ones CDK itself builds: the real app
 * (infra/stacks/build-app.ts, the repository's config) is synthesized with bundling on, so the list
 * of functions (route table + the other constructs), the esbuild options and the memory sizes all
 * come from the CDK code and the template, never from a second list kept here. Each distinct bundle
 * is then imported by fresh `node` processes with the environment its function gets.
 */

/** One function of the synthesized template. */
export interface DeployedFunction {
  /** Construct path below the stack, e.g. `Handlers/turns-submit`. */
  name: string;
  memoryMB: number;
  /** The bundle directory in the cloud assembly (index.mjs, its source map, the config). */
  assetDir: string;
  environment: Record<string, unknown>;
}

/** What the cold-start scenario reports per distinct bundle. */
export interface BundleFigures {
  functions: string[];
  /** index.mjs, minified. */
  bytes: number;
  gzipBytes: number;
  /** Module init: the median and the fastest of the imports. */
  initMs: number;
  initMsMin: number;
  /** Process start to exit (median): node's own start-up plus the module init. */
  processMs: number;
}

/** Imports per bundle; the median damps the noise of a shared machine. */
const RUNS = 5;
/** A loopback port nothing listens on: a module that calls AWS at init fails fast instead of leaving the machine. */
const LOOPBACK_ENDPOINT = 'http://127.0.0.1:9';

/** Synthesizes the app with bundling into a temporary assembly and lists its Node.js functions. */
export function synthesizeFunctions(): { outdir: string; functions: DeployedFunction[]; synthMs: number } {
  const started = performance.now();
  const outdir = mkdtempSync(join(tmpdir(), 'tb-bench-cdk-'));
  const cdkContext = (
    JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
  ).context;
  const { app } = buildApp({
    configPath: join(PROJECT_ROOT, 'threadbound.config.json'),
    nag: false,
    appProps: { outdir, context: { ...cdkContext, 'aws:cdk:enable-path-metadata': true } },
  });
  app.synth();
  const template = JSON.parse(readFileSync(join(outdir, `${STACK_ID}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, any>; Metadata?: Record<string, string> }>;
  };
  const functions: DeployedFunction[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const key = resource.Properties.Code?.S3Key;
    // CDK's own helper functions (the Trigger provider) are not threadbound bundles.
    if (typeof key !== 'string' || resource.Properties.Handler !== 'index.handler') continue;
    const path = resource.Metadata?.['aws:cdk:path'] ?? logicalId;
    functions.push({
      name: path.replace(`${STACK_ID}/`, '').replace(/\/Function\/Resource$/, ''),
      memoryMB: resource.Properties.MemorySize ?? 128,
      assetDir: join(outdir, `asset.${key.replace(/\.zip$/, '')}`),
      environment: resource.Properties.Environment?.Variables ?? {},
    });
  }
  return { outdir, functions, synthMs: performance.now() - started };
}

/** The environment a function gets on Lambda, with CloudFormation references replaced by local stand-ins. */
function lambdaEnvironment(fn: DeployedFunction): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL: LOOPBACK_ENDPOINT,
    AWS_LAMBDA_FUNCTION_NAME: `bench-${fn.name.replace(/\W+/g, '-')}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMB),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    LAMBDA_TASK_ROOT: fn.assetDir,
  };
  for (const [name, value] of Object.entries(fn.environment)) {
    if (typeof value === 'string') env[name] = value;
    else
      env[name] = name.endsWith('_ARN')
        ? `arn:aws:lambda:us-east-1:000000000000:function:bench-${name.toLowerCase()}`
        : 'threadbound-bench';
  }
  // The bundle carries the config at /var/task; here it sits beside index.mjs.
  if (env.THREADBOUND_CONFIG === BUNDLED_CONFIG_PATH)
    env.THREADBOUND_CONFIG = join(fn.assetDir, 'threadbound.config.json');
  return env;
}

// The child measures the import alone; NODE_OPTIONS comes from the function's environment.
const CHILD = [
  'const started = performance.now();',
  'await import(process.env.BENCH_BUNDLE_URL);',
  'process.stdout.write(JSON.stringify({ initMs: performance.now() - started }));',
  'process.exit(0);',
].join(' ');

/** One fresh process importing the bundle: the module init time it printed and its whole lifetime. */
function importOnce(
  fn: DeployedFunction,
  options: { withoutSourceMaps?: boolean } = {},
): Promise<{ initMs: number; processMs: number }> {
  const started = performance.now();
  const env: NodeJS.ProcessEnv = {
    ...lambdaEnvironment(fn),
    BENCH_BUNDLE_URL: pathToFileURL(join(fn.assetDir, 'index.mjs')).href,
  };
  // Functions run with --enable-source-maps (their NODE_OPTIONS); the option drops it to measure what it costs.
  if (options.withoutSourceMaps)
    env.NODE_OPTIONS = (env.NODE_OPTIONS ?? '').replace('--enable-source-maps', '').trim() || undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      cwd: fn.assetDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0)
        return reject(new Error(`importing the bundle of ${fn.name} failed (exit ${code}): ${err.slice(0, 500)}`));
      resolve({ initMs: (JSON.parse(out) as { initMs: number }).initMs, processMs: performance.now() - started });
    });
  });
}

/** The longest prefix all names share (e.g. `TurnWorkflow/Agent-` for the agents). */
function commonPrefix(names: string[]): string {
  return names.reduce((prefix, name) => {
    let i = 0;
    while (i < prefix.length && prefix[i] === name[i]) i += 1;
    return prefix.slice(0, i);
  });
}

/** Bundle sizes and module init times of every distinct bundle of the deployed functions. */
export async function benchColdStart() {
  const { outdir, functions, synthMs } = synthesizeFunctions();
  try {
    // Agents share one entry (functions/agents/agent.ts): one bundle, measured once.
    const byAsset = new Map<string, DeployedFunction[]>();
    for (const fn of functions) byAsset.set(fn.assetDir, [...(byAsset.get(fn.assetDir) ?? []), fn]);
    const bundles: Record<string, BundleFigures> = {};
    for (const [assetDir, sharing] of byAsset) {
      const fn = sharing[0]!;
      const code = readFileSync(join(assetDir, 'index.mjs'));
      const runs = [];
      for (let i = 0; i < RUNS; i += 1) runs.push(await importOnce(fn));
      const init = runs.map((r) => r.initMs);
      const label = sharing.length > 1 ? `${commonPrefix(sharing.map((f) => f.name))}*` : fn.name;
      bundles[label] = {
        functions: sharing.map((f) => f.name),
        bytes: code.length,
        gzipBytes: gzipSync(code).length,
        initMs: round(median(init)),
        initMsMin: round(Math.min(...init)),
        processMs: round(median(runs.map((r) => r.processMs))),
      };
    }
    // What --enable-source-maps costs at init (the functions run with it, docs/performance.md): Node
    // reads and indexes the bundle's source map when the module loads. Measured on the agent bundle,
    // the turn's hot path.
    const agent = functions.find((f) => f.name.startsWith('TurnWorkflow/Agent-')) ?? functions[0]!;
    const withoutMaps = [];
    for (let i = 0; i < RUNS; i += 1) withoutMaps.push((await importOnce(agent, { withoutSourceMaps: true })).initMs);
    const agentLabel = Object.entries(bundles).find(([, figures]) => figures.functions.includes(agent.name))![0];
    const sourceMaps = {
      bundle: agentLabel,
      initMsWithSourceMaps: bundles[agentLabel]!.initMs,
      initMsWithout: round(median(withoutMaps)),
    };
    return { synthSeconds: round(synthMs / 1000), functions, bundles, sourceMaps };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
