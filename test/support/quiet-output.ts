import { afterAll, beforeEach } from 'vitest';

// A passing test prints nothing. What the code under test writes straight to stdout or stderr
// (Powertools' log lines, CDK's bundling notices) is held back per test and written out only when
// that test fails; console calls are vitest's own business (`silent: 'passed-only'`). Tests that
// read the output themselves replace or spy on `write` on top of this and restore it after.

type Stream = 'stdout' | 'stderr';
type Write = typeof process.stdout.write;

/** Output kept for the running test: enough to diagnose a failure, never the whole run. */
const MAX_HELD_BYTES = 4 * 1024 * 1024;
const real: Record<Stream, Write> = {
  stdout: process.stdout.write.bind(process.stdout),
  stderr: process.stderr.write.bind(process.stderr),
};
let held: { stream: Stream; chunk: string | Uint8Array }[] = [];
let heldBytes = 0;

function holder(stream: Stream): Write {
  return ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    held.push({ stream, chunk });
    heldBytes += chunk.length;
    while (heldBytes > MAX_HELD_BYTES && held.length > 1) heldBytes -= held.shift()!.chunk.length;
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    callback?.();
    return true;
  }) as Write;
}

process.stdout.write = holder('stdout');
process.stderr.write = holder('stderr');

/** Writes what was held (the failing test's output, and what the file's hooks wrote before it). */
function release(): void {
  for (const { stream, chunk } of held) real[stream](chunk);
  drop();
}

/** What the running test wrote so far and is held back (for the test of this file itself). */
export function heldOutput(): { stream: Stream; text: string }[] {
  return held.map(({ stream, chunk }) => ({
    stream,
    text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(),
  }));
}

function drop(): void {
  held = [];
  heldBytes = 0;
}

beforeEach(({ onTestFinished }) => {
  onTestFinished(({ task }) => (task.result?.state === 'fail' ? release() : drop()));
});

// A hook that failed (a stack that would not start) fails no test: its output goes out with the file's.
// biome-ignore lint/correctness/noEmptyPattern: vitest reads the hook's first parameter as a fixture pattern
afterAll(({}, file) => (file.result?.errors?.length ? release() : drop()));
