import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AcceptedTurn, turnLedger } from '../support/fault-injection.js';
import { eventually, startTestStack, type TestStack, testAgent } from '../support/local-stack.js';
import { expectInvariants } from './invariants.js';
import { waitForQuiescence } from './support.js';

// Process-level faults in the in-process local stack: a model provider that stalls or drops the
// connection in the middle of its response body, and a sub-agent Lambda that crashes after it
// claimed its child thread (no catch, no finish: the process is gone).

/**
 * A loopback OpenAI-compatible endpoint whose behaviour is the requested model's name: `ok`
 * answers; `stall` sends the status, the headers and half the body, then nothing more; `cut` sends
 * the same half and then resets the connection.
 */
async function startMidBodyFake(): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests += 1;
      const model = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model?: string }).model);
      const body = JSON.stringify({
        id: `chatcmpl-${requests}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          { index: 0, message: { role: 'assistant', content: `steady answer ${requests}` }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      if (model === 'ok') return res.end(body);
      res.write(body.slice(0, Math.floor(body.length / 2)));
      if (model === 'cut') setTimeout(() => res.socket?.destroy(), 50);
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let fake: Awaited<ReturnType<typeof startMidBodyFake>>;
let stack: TestStack;
let context: typeof import('../../functions/shared/deps/config.js') &
  typeof import('../../functions/shared/deps/turns.js');

beforeAll(async () => {
  fake = await startMidBodyFake();
  stack = await startTestStack(
    {
      // Three provider ids on one fake, so one's open circuit never hides another.
      providers: {
        stally: { baseUrl: fake.url },
        cutty: { baseUrl: fake.url },
        steady: { baseUrl: fake.url },
      } as never,
      agents: {
        stalls: testAgent(['stally:stall', 'steady:ok'], { timeout: '4s' }),
        cuts: testAgent(['cutty:cut', 'steady:ok'], { timeout: '4s' }),
        stranded: testAgent(['stally:stall'], { timeout: '2s' }),
        lead: testAgent(['offline'], {
          subAgents: ['worker', 'crasher'],
          maxChildren: 2,
          maxSpawnDepth: 1,
          timeout: '10s',
        }),
        worker: testAgent(['test:delay=20']),
        // A 2 s budget: a crashed claim's lease expires 11 s later (3 × timeout + 5 s).
        crasher: testAgent(['test:delay=20'], { timeout: '2s' }),
      } as never,
    },
    { recoveryIntervalMs: 500 },
  );
  context = {
    ...(await import('../../functions/shared/deps/config.js')),
    ...(await import('../../functions/shared/deps/turns.js')),
  };
});
afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await stack.stepFunctions.idle();
  await waitForQuiescence(stack.table);
  await expectInvariants(stack.table, { quiescent: true, config: context.config });
});

const accepted: AcceptedTurn[] = [];
async function submit(sessionKey: string, input: string): Promise<string> {
  const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, { body: { input } });
  expect(submitted.status).toBe(202);
  accepted.push({ sessionKey, turnId: submitted.body.turnId, input });
  return submitted.body.turnId as string;
}
async function spawn(agent: string, sessionKey: string): Promise<void> {
  expect((await stack.call('POST', '/v1/threads', { body: { agent, sessionKey } })).status).toBe(201);
}
async function expectLedger(): Promise<void> {
  expect(turnLedger(await stack.table.scanAll(), accepted).problems).toEqual([]);
}

describe('a provider that fails mid-stream', () => {
  it('stalls after half the body: the chain abandons it within its share of the timeout and the fallback answers', async () => {
    const threads = ['stall-0', 'stall-1', 'stall-2'];
    for (const key of threads) await spawn('stalls', key);
    const started = Date.now();
    const turns = await Promise.all(
      threads.map(async (key) => stack.finalTurn(key, await submit(key, `question on ${key}`))),
    );
    const elapsed = Date.now() - started;
    expect(turns.map((turn) => `${turn.status}: ${turn.reply ?? turn.error}`)).toEqual(
      turns.map(() => expect.stringMatching(/^succeeded: steady answer \d+$/)),
    );
    // Half of the 4 s budget for the stalled attempt, then the fallback: the main phase ended inside
    // its 4 s Task timeout (else the turn would be timed_out); the bound adds the workflow's own steps.
    expect(elapsed).toBeLessThan(8_000);
    expect((await stack.agentCounters()).stalls).toEqual({ activeThreads: 3, runningTurns: 0 });
    const fallbacks = await stack.call('GET', '/v1/audit?type=model_fallback&period=1h&limit=50', {
      key: 'test-key-admin-ops-0000000000000000',
    });
    expect(fallbacks.body.events.filter((e: any) => e.data?.from === 'stally:stall').length).toBeGreaterThanOrEqual(1);
    await expectLedger();
  });

  it('drops the connection after half the body: a retryable failure, the fallback answers at once', async () => {
    const threads = ['cut-0', 'cut-1'];
    for (const key of threads) await spawn('cuts', key);
    const turns = await Promise.all(
      threads.map(async (key) => stack.finalTurn(key, await submit(key, `question on ${key}`))),
    );
    expect(turns.map((turn) => `${turn.status}: ${turn.reply ?? turn.error}`)).toEqual(
      turns.map(() => expect.stringMatching(/^succeeded: steady answer \d+$/)),
    );
    expect((await stack.agentCounters()).cuts!.runningTurns).toBe(0);
    await expectLedger();
  });

  it('with no fallback, a stalled provider ends the turn within its timeout: one outcome, no reply, lease and slot released', async () => {
    await spawn('stranded', 'stranded-0');
    const started = Date.now();
    const turnId = await submit('stranded-0', 'anyone there?');
    const turn = await stack.finalTurn('stranded-0', turnId);
    expect(['failed', 'timed_out']).toContain(turn.status);
    expect(turn.reply).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000 + 3_000);
    expect((await stack.call('GET', '/v1/threads/stranded-0')).body.runningTurn).toBeUndefined();
    expect((await stack.agentCounters()).stranded!.runningTurns).toBe(0);
    // The thread is usable again at once: the next turn is accepted and ends too.
    const next = await stack.finalTurn('stranded-0', await submit('stranded-0', 'still there?'));
    expect(['failed', 'timed_out']).toContain(next.status);
    await expectLedger();
  });
});

describe('a sub-agent Lambda that crashes', () => {
  it('after claiming its child thread: the turn still answers, degraded, naming the failed sub-agent; the child lease expires and recovery releases it', async () => {
    // The seam: the agent runtime's TurnService (functions/shared/deps/turns.ts `turns`). The claim
    // lands, then the "process" dies: no catch block runs, no finish, nothing released.
    const claimInline = context.turns.claimInline.bind(context.turns);
    const crash = vi.spyOn(context.turns, 'claimInline').mockImplementation(async (...args) => {
      const claimed = await claimInline(...args);
      if (args[1].endsWith(':crasher'))
        throw Object.assign(new Error('RequestId: 1f1e Error: Runtime exited with error: signal: killed'), {
          name: 'Runtime.ExitError',
        });
      return claimed;
    });
    await spawn('lead', 'crash-0');
    const turn = await stack.finalTurn('crash-0', await submit('crash-0', '@worker @crasher split this'));
    expect(crash).toHaveBeenCalledTimes(2);
    expect(turn.status).toBe('succeeded');
    const byAgent = Object.fromEntries(turn.subAgents.map((s: { agent: string }) => [s.agent, s]));
    expect(byAgent.worker).toMatchObject({ status: 'succeeded' });
    expect(byAgent.crasher).toMatchObject({ status: 'failed', error: expect.stringContaining('Runtime.ExitError') });
    expect(turn.reply).toContain('- crasher: not available (failed: Runtime.ExitError');
    expect(turn.reply).toContain('- worker: [test worker]');

    // The crashed claim holds the child's lease and a crasher slot until the lease expires.
    const child = (await stack.call('GET', '/v1/threads/crash-0:crasher')).body;
    expect(child.runningTurn).toBeDefined();
    crash.mockRestore();
    await eventually(async () => (await stack.agentCounters()).crasher!.runningTurns === 0, 20_000);
    const childTurn = await stack.call(
      'GET',
      `/v1/threads/crash-0:crasher/turns/${child.runningTurn.turnId ?? child.runningTurn}`,
    );
    expect(childTurn.body).toMatchObject({
      status: 'failed',
      error: 'the turn did not finish before its lease expired',
    });

    // Recovered: the next fan-out reaches the same child thread and gets its answer.
    const again = await stack.finalTurn('crash-0', await submit('crash-0', '@worker @crasher once more'));
    expect(again.subAgents.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded']);
    await expectLedger();
  }, 40_000);
});
