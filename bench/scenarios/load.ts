import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from '../../infra/constructs/project-paths.js';
import { BENCH_KEY, type Bench } from '../harness.js';
import type { CannonResult, CannonSpec } from '../load/cannon.js';

/** How long the load runs, per route (seconds). */
export const LOAD_SECONDS = 15;
/** Connections autocannon keeps open at once. */
export const LOAD_CONNECTIONS = 32;
/** Write load goes round-robin over this many threads, so a thread is rarely still busy (409) when hit again. */
const WRITE_THREADS = 128;
/** How long the workflows the write load started may take to drain before the next section. */
const DRAIN_MS = 60_000;

/** Runs the load generator in its own process and reads its one-line JSON result. */
function cannon(spec: CannonSpec): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'bench/load/cannon.ts'), JSON.stringify(spec)],
      {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!) as CannonResult)
        : reject(new Error(`load generator exited ${code}: ${err.slice(0, 500)}`)),
    );
  });
}

/**
 * A bounded load run on loopback with autocannon against the local stack: a read route (GET one
 * thread) and a write route (POST a turn, each starting a workflow that runs in the same process).
 */
export async function benchLoad(bench: Bench) {
  await bench.spawn('plain', 'load-read');
  const lanes = 8;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let t = lane; t < WRITE_THREADS; t += lanes) await bench.spawn('plain', `load-w-${t}`);
    }),
  );
  const base = {
    url: bench.stack.url,
    key: BENCH_KEY,
    connections: LOAD_CONNECTIONS,
    durationSeconds: LOAD_SECONDS,
    threads: WRITE_THREADS,
  };
  const read = await cannon({ ...base, route: 'read' });
  const write = await cannon({ ...base, route: 'write' });
  const drainStarted = performance.now();
  // An unref'd timer: it must not keep the process alive once the workflows have drained.
  await Promise.race([bench.stack.stepFunctions.idle(), sleep(DRAIN_MS, undefined, { ref: false })]);
  return {
    seconds: LOAD_SECONDS,
    connections: LOAD_CONNECTIONS,
    read,
    write: { ...write, writeThreads: WRITE_THREADS, drainMs: Math.round(performance.now() - drainStarted) },
  };
}
