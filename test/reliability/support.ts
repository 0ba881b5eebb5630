import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { startTestStack, type TestStack, testConfig } from '../support/local-stack.js';
import { type CheckedTable, expectInvariants, scanTable } from './invariants.js';

/** A test stack and the parsed config it runs with (pass it to the invariant check to check the maxima too). */
export interface ReliabilityStack extends TestStack {
  config: Config;
}

/** Starts the in-process local stack with config overrides (one per file: handlers read the config at import). */
export async function startReliabilityStack(
  overrides: Parameters<typeof startTestStack>[0] = {},
  options: Parameters<typeof startTestStack>[1] = {},
): Promise<ReliabilityStack> {
  // Parsed the same way the stack parses its file, so defaults (onBusy, autoDestroy…) are filled in.
  const config = parseConfig(testConfig(overrides), 'reliability test config');
  const stack = await startTestStack(overrides, options);
  return Object.assign(stack, { config });
}

/**
 * Waits until nothing runs or waits in the table: no lease, no running or queued turn. The
 * workflow finishes a turn, then trims memory and starts the next queued one; a client that saw
 * its turn final can be a step ahead of that tail.
 */
export async function waitForQuiescence(table: CheckedTable, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const busy = (await scanTable(table)).filter(
      (item) =>
        (item.kind === 'thread' && item.lease !== undefined) ||
        (item.kind === 'turn' && (item.status === 'running' || item.status === 'queued')),
    );
    if (busy.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `still busy after ${timeoutMs} ms: ${busy.map((item) => `${String(item.pk)}/${String(item.sk)}`).join(', ')}`,
      );
    await sleep(100);
  }
}

/**
 * Waits until every workflow execution has ended (a stale one still runs until its model answers)
 * and the table holds nothing running or waiting, then checks every invariant with nothing running.
 */
export async function settleAndCheck(stack: ReliabilityStack, timeoutMs = 20_000): Promise<void> {
  await within(timeoutMs, 'the workflow executions', stack.stepFunctions.idle());
  await waitForQuiescence(stack.table, timeoutMs);
  await expectInvariants(stack.table, { quiescent: true, config: stack.config });
}

/** Calls `probe` every `intervalMs` until stopped; `stop()` resolves with every sample taken. */
export function sampler<T>(probe: () => Promise<T>, intervalMs = 100): { stop(): Promise<T[]> } {
  const samples: T[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await probe());
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** Runs `count` calls of `make` at once and returns their results in order. */
export function storm<T>(count: number, make: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => make(i)));
}

/** Rejects if `work` takes longer than `ms`: each reliability case is bounded in time, not just by the test timeout. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A thread's whole history through GET …/messages, oldest first. */
export async function allMessages(
  stack: TestStack,
  sessionKey: string,
  key?: string,
): Promise<{ seq: number; role: string; turnId: string; content: string }[]> {
  const messages = [];
  let after = 0;
  for (;;) {
    const { status, body } = await stack.call(
      'GET',
      `/v1/threads/${sessionKey}/messages?after=${after}&limit=100`,
      key === undefined ? {} : { key },
    );
    if (status !== 200) throw new Error(`GET messages of ${sessionKey}: ${status} ${JSON.stringify(body)}`);
    messages.push(...body.messages);
    if (body.nextAfter === undefined) return messages;
    after = body.nextAfter;
  }
}

/** Counts of each HTTP status in a list of responses, e.g. `{201: 4, 429: 6}`. */
export function statusCounts(responses: { status: number }[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}
