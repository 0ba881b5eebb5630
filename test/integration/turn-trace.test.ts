import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDocumentClient } from '../../lib/adapters/dynamodb/client.js';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import { AgentRuntime, type RawSubResult } from '../../lib/agents/runtime.js';
import { parseConfig } from '../../lib/config/load.js';
import { builtInProviders, type ProviderResolver } from '../../lib/models/model-chain.js';
import { ModelError } from '../../lib/models/port.js';
import { Redactor } from '../../lib/secrets/redactor.js';
import { ThreadService } from '../../lib/threads/service.js';
import { TurnService } from '../../lib/turns/service.js';
import { SUB_TRACES_BUDGET, TRACE_LIMITS, TraceRecorder, withinTraceBudget } from '../../lib/turns/trace.js';
import { anthropicResponses, type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.js';
import { type FakeOpenAI, contentText as openaiText, startFakeOpenAI } from '../support/fake-openai.js';
import { FaultInjector } from '../support/fault-injection.js';
import { startTestStack, type TestStack, testAgent, testConfig } from '../support/local-stack.js';
import { localSecretsManagerClient } from '../support/secrets.js';

// The turn trace as a client reads it from GET /v1/threads/{sk}/turns/{turnId}: the whole local
// stack (real ASL, DynamoDB Local, the local Secrets Manager endpoint), the real provider SDKs
// against loopback fakes, and the offline/test providers for fan-out.
const CHAIN = ['anthropic:claude-test', 'openai:gpt-test', 'offline'];
const ANTHROPIC_KEY = 'sk-ant-trace-test-0000000000000000';
const OPENAI_KEY = 'sk-openai-trace-test-000000000000';

let anthropic: FakeAnthropic;
let openai: FakeOpenAI;
let stack: TestStack;

beforeAll(async () => {
  anthropic = await startFakeAnthropic({ default: () => anthropicResponses.text('anthropic answers') });
  openai = await startFakeOpenAI({
    default: () => ({ kind: 'text', text: (body) => `openai says: ${openaiText(body.messages.at(-1)!.content)}` }),
  });
  stack = await startTestStack({
    agents: {
      tracer: testAgent(CHAIN, {
        secrets: ['anthropic-api-key', 'openai-api-key'],
        tools: { allow: ['memory.read', 'memory.write'], deny: ['http.get'] },
      }),
      lead: testAgent(['offline'], { subAgents: ['alpha', 'boom'], maxChildren: 2, maxSpawnDepth: 1 }),
      alpha: testAgent(['test:delay=50']),
      boom: testAgent(['test:fail']),
      doomed: testAgent(['test:fail']),
    } as never,
    secrets: { 'openai-api-key': { source: 'aws-secretsmanager://threadbound/openai-api-key' } } as never,
    providers: { anthropic: { baseUrl: anthropic.url }, openai: { baseUrl: openai.url } },
    // One 500 must not open anthropic's circuit for the turns after it.
    circuitBreaker: { failureThreshold: 5, cooldown: '1s' },
  });
  const sm = localSecretsManagerClient(stack.secretsManager.endpoint);
  await sm.send(new CreateSecretCommand({ Name: 'threadbound/anthropic-api-key', SecretString: ANTHROPIC_KEY }));
  await sm.send(new CreateSecretCommand({ Name: 'threadbound/openai-api-key', SecretString: OPENAI_KEY }));
  sm.destroy();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await anthropic?.close();
  await openai?.close();
});

/** Spawns a thread of `agent`, runs one turn and returns its final view. */
async function turn(agent: string, sessionKey: string, input: string): Promise<any> {
  expect((await stack.call('POST', '/v1/threads', { body: { agent, sessionKey } })).status).toBe(201);
  const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, { body: { input } });
  expect(submitted.status).toBe(202);
  return stack.finalTurn(sessionKey, submitted.body.turnId);
}

/** No secret value anywhere in what the API returned. */
function expectNoSecretValues(view: unknown): void {
  const text = JSON.stringify(view);
  expect(text).not.toContain(ANTHROPIC_KEY);
  expect(text).not.toContain(OPENAI_KEY);
}

describe('the turn trace', () => {
  it('a fallback: the failed model with its status and reason, then the model that answered, and the secret names used', async () => {
    anthropic.script(anthropicResponses.serverError());
    const view = await turn('tracer', 'fallback', 'hello trace');
    expect(view).toMatchObject({ status: 'succeeded', reply: 'openai says: hello trace' });

    expect(view.trace.phases).toHaveLength(1);
    const [main] = view.trace.phases;
    expect(main).toMatchObject({ phase: 'main', agent: 'tracer', tools: [] });
    expect(Date.parse(main.startedAt)).toBeGreaterThanOrEqual(Date.parse(view.startedAt));
    expect(main.durationMs).toBeGreaterThanOrEqual(0);
    expect(main.durationMs).toBeLessThanOrEqual(Date.parse(view.endedAt) - Date.parse(view.startedAt));
    expect(main.models).toEqual([
      {
        model: 'anthropic:claude-test',
        outcome: 'failed',
        status: 500,
        reason: expect.stringContaining('Internal server error'),
        ms: expect.any(Number),
      },
      { model: 'openai:gpt-test', outcome: 'answered', ms: expect.any(Number) },
    ]);
    expect([...main.secrets].sort()).toEqual(['anthropic-api-key', 'openai-api-key']);
    expectNoSecretValues(view);
  });

  it('tool calls: an allowed one that ran and a denied one with its reason, in call order, without their inputs', async () => {
    anthropic.script(
      anthropicResponses.toolUse([
        { name: 'memory__write', input: { key: 'city', value: 'Valparaiso' } },
        { name: 'http__get', input: { url: 'http://127.0.0.1:9/private-page' } },
      ]),
      anthropicResponses.text('noted'),
    );
    const view = await turn('tracer', 'tooly', 'remember the city');
    expect(view).toMatchObject({ status: 'succeeded', reply: 'noted' });

    const [main] = view.trace.phases;
    expect(main.tools).toEqual([
      { name: 'memory.write', allowed: true, outcome: 'ok', ms: expect.any(Number) },
      { name: 'http.get', allowed: false, outcome: 'denied', reason: expect.stringContaining('tools.deny') },
    ]);
    // Two rounds of the chain, both answered by the primary; only its secret was read.
    expect(main.models.map((m: { model: string; outcome: string }) => `${m.model} ${m.outcome}`)).toEqual([
      'anthropic:claude-test answered',
      'anthropic:claude-test answered',
    ]);
    expect(main.secrets).toEqual(['anthropic-api-key']);
    // Names and outcomes only: nothing of the calls' inputs.
    const trace = JSON.stringify(view.trace);
    expect(trace).not.toContain('Valparaiso');
    expect(trace).not.toContain('private-page');
    expectNoSecretValues(view);
  });

  it('a fan-out: every sub-agent with its child thread, status, timings and own phase trace, the failed one included; main and merge phases', async () => {
    const view = await turn('lead', 'fan', '@alpha @boom do your part');
    expect(view.status).toBe('succeeded');
    expect(view.trace.phases.map((p: { phase: string; agent: string }) => `${p.phase}:${p.agent}`)).toEqual([
      'main:lead',
      'coalesce:lead',
    ]);
    expect(view.trace.phases[0].models).toEqual([{ model: 'offline', outcome: 'answered', ms: expect.any(Number) }]);

    const byAgent = Object.fromEntries(view.subAgents.map((s: { agent: string }) => [s.agent, s]));
    expect(byAgent.alpha).toMatchObject({
      sessionKey: 'fan:alpha',
      status: 'succeeded',
      trace: {
        phase: 'sub',
        agent: 'alpha',
        models: [{ model: 'test:delay=50', outcome: 'answered' }],
        tools: [],
        secrets: [],
      },
    });
    expect(byAgent.alpha.trace.models[0].ms).toBeGreaterThanOrEqual(45);
    // The failed item reached the merge as a caught error; its timings and trace come from its child turn.
    expect(byAgent.boom).toMatchObject({
      sessionKey: 'fan:boom',
      status: 'failed',
      error: expect.stringContaining('failed on purpose'),
      trace: {
        phase: 'sub',
        agent: 'boom',
        models: [{ model: 'test:fail', outcome: 'failed', reason: expect.stringContaining('failed on purpose') }],
      },
    });
    for (const sub of [byAgent.alpha, byAgent.boom]) {
      expect(sub.durationMs).toBe(Date.parse(sub.endedAt) - Date.parse(sub.startedAt));
      expect(Date.parse(sub.trace.startedAt)).toBeGreaterThanOrEqual(Date.parse(sub.startedAt));
    }
    // The merge began after the sub-agents ended.
    expect(Date.parse(view.trace.phases[1].startedAt)).toBeGreaterThanOrEqual(
      Math.max(Date.parse(byAgent.alpha.endedAt), Date.parse(byAgent.boom.endedAt)),
    );
  });

  it('a failed turn keeps its error and the trace its main phase collected before failing', async () => {
    const view = await turn('doomed', 'doom', 'this will fail');
    expect(view).toMatchObject({ status: 'failed', error: expect.stringContaining('failed on purpose') });
    expect(view.trace.phases).toEqual([
      expect.objectContaining({
        phase: 'main',
        agent: 'doomed',
        models: [
          { model: 'test:fail', outcome: 'failed', reason: 'test:fail failed on purpose', ms: expect.any(Number) },
        ],
        tools: [],
      }),
    ]);
  });
});

describe('the trace of a retried sub-agent item', () => {
  it('an item retried after its child turn finished reports that turn again; the merge reads its trace from the child turn', async () => {
    // The runtime on the stack's table with a workflow that never runs: the parent turn just holds its lease.
    const config = parseConfig(
      testConfig({
        agents: {
          lead: testAgent(['offline'], { subAgents: ['alpha'], maxChildren: 1, maxSpawnDepth: 1 }),
          alpha: testAgent(['test:delay=50']),
        } as never,
      }),
    );
    const store = new DynamoThreadStore(stack.table.client, stack.table.tableName);
    const threads = new ThreadService(config, store);
    const turns = new TurnService(config, store, { start: async () => undefined });
    const runtime = new AgentRuntime(config, store, threads, turns);
    const acme = { tenant: 'acme', admin: false, keyId: 'key_acme' };
    await threads.spawn(acme, { agent: 'lead', sessionKey: 'retry' });
    const { turn } = await turns.submit(acme, 'retry', { input: 'fan out' });
    const ref = {
      tenant: 'acme',
      sessionKey: 'retry',
      turnId: turn.turnId,
      agent: 'lead',
      fencingToken: (await store.get('acme', 'retry'))!.lease!.fencingToken,
      timeoutSeconds: 10,
      maxChildren: 1,
    };
    const item = { agent: 'alpha', task: 'fetch it', sessionKey: 'retry:alpha', timeoutSeconds: 10 };

    const first = await runtime.sub(ref, item);
    expect(first).toMatchObject({ status: 'succeeded', reply: expect.any(String) });
    // The Map item carries no trace: the child turn keeps it.
    expect(first).not.toHaveProperty('trace');
    // The retry runs nothing (the child thread has one turn) and reports what the first attempt stored.
    const retried = await runtime.sub(ref, item);
    expect(retried).toEqual({ ...first, endedAt: expect.any(String), durationMs: expect.any(Number) });
    // The merge finds the trace the first attempt kept on the child turn.
    const merged = await runtime.coalesce(ref, 'lead', [retried], 10);
    expect(merged.subAgents[0]).toMatchObject({
      agent: 'alpha',
      trace: { phase: 'sub', agent: 'alpha', models: [{ model: 'test:delay=50', outcome: 'answered' }] },
    });
    expect(await store.messagesAfter('acme', 'retry:alpha', 0, 10)).toHaveLength(2);
    await threads.restart(acme, 'retry', { clearMemory: false }); // release the parent, whose execution never ran
  });
});

describe('a fan-out at the trace caps (the workflow state stays small)', () => {
  const CHILDREN = ['s0', 's1', 's2', 's3', 's4', 's5'];
  // Each sub-agent fills its phase trace to the caps: 12 failed models with long reasons (and more
  // left out), then a model that calls 20 tools it may not use (16 kept) before answering.
  const FLAKY = Array.from({ length: TRACE_LIMITS.models + 2 }, (_, i) => `flaky:model-${i}-${'x'.repeat(60)}`);
  const providers: ProviderResolver = (ref, context) => {
    if (ref.startsWith('flaky:'))
      return {
        id: ref,
        complete: async () =>
          Promise.reject(new ModelError(`${ref} is overloaded: ${'busy '.repeat(80)}`, ref, true, { status: 503 })),
      };
    if (ref === 'tooly:answer') {
      return {
        id: ref,
        complete: async (request) =>
          request.steps?.length
            ? { text: `done: ${request.input}`, model: ref }
            : {
                text: '',
                toolCalls: Array.from({ length: TRACE_LIMITS.tools + 4 }, (_, i) => ({
                  id: `c${i}`,
                  name: `memory.read${i}`,
                  input: {},
                })),
                model: ref,
              },
      };
    }
    return builtInProviders(ref, context);
  };

  it('no trace rides on the Map items; the merge reads each from its child turn, and the turn view has every one', async () => {
    const agents = Object.fromEntries(CHILDREN.map((name) => [name, testAgent([...FLAKY, 'tooly:answer'])]));
    const config = parseConfig(
      testConfig({
        agents: {
          lead: testAgent(['offline'], { subAgents: CHILDREN, maxChildren: CHILDREN.length, maxSpawnDepth: 1 }),
          ...agents,
        } as never,
      }),
    );
    const store = new DynamoThreadStore(stack.table.client, stack.table.tableName);
    const threads = new ThreadService(config, store);
    const turns = new TurnService(config, store, { start: async () => undefined });
    const runtime = new AgentRuntime(config, store, threads, turns, { providers });
    const acme = { tenant: 'acme', admin: false, keyId: 'key_acme' };
    await threads.spawn(acme, { agent: 'lead', sessionKey: 'capped' });
    const { turn } = await turns.submit(acme, 'capped', {
      input: `${CHILDREN.map((c) => `@${c}`).join(' ')} do your part`,
    });
    const ref = {
      tenant: 'acme',
      sessionKey: 'capped',
      turnId: turn.turnId,
      agent: 'lead',
      fencingToken: (await store.get('acme', 'capped'))!.lease!.fencingToken,
      timeoutSeconds: 20,
      maxChildren: CHILDREN.length,
    };

    const main = await runtime.main(ref);
    if (main.kind !== 'plan') throw new Error(`expected a plan, got ${JSON.stringify(main)}`);
    expect(main.plan.map((p) => p.agent)).toEqual(CHILDREN);
    // What the Map state collects: each item an outcome without its trace, a few hundred bytes.
    const results: RawSubResult[] = await Promise.all(main.plan.map((item) => runtime.sub(ref, item)));
    for (const result of results) {
      expect(result).toMatchObject({ status: 'succeeded' });
      expect(result).not.toHaveProperty('trace');
    }
    expect(JSON.stringify(results).length).toBeLessThan(CHILDREN.length * 600);

    // Each outcome names its child turn, so the merge reads that turn alone (no child thread read).
    for (const result of results) expect(result).toMatchObject({ turnId: expect.stringMatching(/^turn_/) });
    const gets = vi.spyOn(store, 'get');
    const turnReads = vi.spyOn(store, 'getTurn');
    const merged = await runtime.coalesce(ref, main.coalesceWith, results, main.coalesceTimeoutSeconds, main.trace);
    expect(gets.mock.calls.filter(([, sessionKey]) => sessionKey !== 'capped')).toEqual([]);
    expect(turnReads.mock.calls.filter(([, sessionKey]) => sessionKey !== 'capped')).toHaveLength(CHILDREN.length);
    gets.mockRestore();
    turnReads.mockRestore();
    const sizes = merged.subAgents.map((s) => JSON.stringify(s.trace ?? null).length);
    // Each trace is at its caps (several KB) and all of them together fit SUB_TRACES_BUDGET.
    for (const sub of merged.subAgents) {
      expect(sub.trace).toMatchObject({
        phase: 'sub',
        agent: sub.agent,
        omitted: { models: expect.any(Number), tools: 4 },
      });
      expect(sub.trace!.models).toHaveLength(TRACE_LIMITS.models);
      expect(sub.trace!.tools).toHaveLength(TRACE_LIMITS.tools);
    }
    expect(Math.min(...sizes)).toBeGreaterThan(5_000);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(SUB_TRACES_BUDGET);
    // The merge's result travels in the workflow state too: three times the items (each child read
    // again) still carry at most SUB_TRACES_BUDGET of traces; the rest are left to their child turns.
    const tripled = await runtime.coalesce(
      ref,
      main.coalesceWith,
      [...results, ...results, ...results],
      main.coalesceTimeoutSeconds,
      main.trace,
    );
    const kept = tripled.subAgents.filter((s) => s.trace);
    expect(kept.length).toBeGreaterThanOrEqual(CHILDREN.length);
    expect(kept.length).toBeLessThan(3 * CHILDREN.length);
    expect(kept.reduce((sum, s) => sum + JSON.stringify(s.trace).length, 0)).toBeLessThanOrEqual(SUB_TRACES_BUDGET);

    expect(
      await turns.finish(ref, {
        status: 'succeeded',
        reply: merged.reply,
        subAgents: merged.subAgents,
        trace: merged.trace,
      }),
    ).toBe('finished');
    const view = await turns.get('acme', 'capped', turn.turnId);
    expect(view.subAgents!.map((s) => [s.agent, s.trace?.phase, s.trace?.tools.length])).toEqual(
      CHILDREN.map((c) => [c, 'sub', TRACE_LIMITS.tools]),
    );
    expect(view.trace!.phases.map((p) => p.phase)).toEqual(['main', 'coalesce']);
  });
});

describe('a phase failing on DynamoDB throttling (the workflow retries it)', () => {
  it('keeps no trace: no extra reads or transaction on the throttled table, the thread version unchanged', async () => {
    const config = parseConfig(testConfig({ agents: { solo: testAgent(['offline']) } as never }));
    const plain = new DynamoThreadStore(stack.table.client, stack.table.tableName);
    const acme = { tenant: 'acme', admin: false, keyId: 'key_acme' };
    for (const [kind, name] of [
      ['throttling', 'ThrottlingException'],
      ['throughput', 'ProvisionedThroughputExceededException'],
    ] as const) {
      const sessionKey = `throttled-${kind}`;
      const plainThreads = new ThreadService(config, plain);
      await plainThreads.spawn(acme, { agent: 'solo', sessionKey });
      const { turn } = await new TurnService(config, plain, { start: async () => undefined }).submit(acme, sessionKey, {
        input: 'hello',
      });
      const before = (await plain.get('acme', sessionKey))!;
      const ref = {
        tenant: 'acme',
        sessionKey,
        turnId: turn.turnId,
        agent: 'solo',
        fencingToken: before.lease!.fencingToken,
        timeoutSeconds: 10,
        maxChildren: 1,
      };

      // The runtime on a client whose every Query (the memory read) is throttled past the SDK's retries.
      const client = createDocumentClient({
        endpoint: stack.table.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      const faults = new FaultInjector([{ commands: ['Query'], kind, rate: 1 }]).attach(client);
      const store = new DynamoThreadStore(client, stack.table.tableName);
      const runtime = new AgentRuntime(
        config,
        store,
        new ThreadService(config, store),
        new TurnService(config, store, { start: async () => undefined }),
      );
      const error = await runtime.main(ref).catch((e: unknown) => e);
      expect((error as Error).name).toBe(name);
      const after = faults.attemptCounts();
      faults.detach();
      client.destroy();

      // keepTrace ran nothing: two reads for the lease check only, no transaction.
      expect(after.TransactWriteItems ?? 0).toBe(0);
      expect(after.GetItem ?? 0).toBe(2);
      expect((await plain.get('acme', sessionKey))!.version).toBe(before.version);
      expect((await plain.getTurn('acme', sessionKey, turn.turnId))!.trace).toBeUndefined();
      await plainThreads.restart(acme, sessionKey, { clearMemory: false });
    }
  });
});

describe('the trace caps (they keep the turn item far below 400 KB)', () => {
  it('caps lists and reasons, redacts a secret before cutting, names each secret once, and counts what it left out', () => {
    const redactor = new Redactor();
    const key = `sk-live-${'k'.repeat(40)}`;
    redactor.register('provider-key', key);
    const recorder = new TraceRecorder('main', 'a', { now: () => new Date(), redact: (text) => redactor.redact(text) });
    // The key sits across the cut: cut first, its prefix would survive unredacted.
    for (let i = 0; i < TRACE_LIMITS.models + 3; i += 1)
      recorder.model({ model: `m${i}`, outcome: 'failed', reason: `${'x'.repeat(120)} ${key} ${'y'.repeat(500)}` });
    for (let i = 0; i < TRACE_LIMITS.tools + 1; i += 1)
      recorder.tool({ name: 'memory.read', allowed: true, outcome: 'ok' });
    for (let i = 0; i < 3; i += 1) recorder.secret('provider-key');
    const trace = recorder.finish();
    expect(trace.models).toHaveLength(TRACE_LIMITS.models);
    expect(trace.tools).toHaveLength(TRACE_LIMITS.tools);
    expect(trace.secrets).toEqual(['provider-key']);
    expect(trace.omitted).toEqual({ models: 3, tools: 1 });
    for (const model of trace.models) expect(model.reason!.length).toBeLessThanOrEqual(TRACE_LIMITS.reasonChars);
    expect(trace.models[0]!.reason).toContain('[REDACTED:provider-key]');
    expect(JSON.stringify(trace)).not.toContain('sk-live-');
    // A whole phase at its caps stays a few KB.
    expect(JSON.stringify(trace).length).toBeLessThan(8_000);
  });

  it('keeps sub-agent phase traces within SUB_TRACES_BUDGET; later ones are left to their child turns', () => {
    const recorder = new TraceRecorder('sub', 's', { now: () => new Date(), redact: (text) => text });
    for (let i = 0; i < TRACE_LIMITS.models; i += 1)
      recorder.model({ model: `m${i}`, outcome: 'failed', reason: 'r'.repeat(500) });
    const trace = recorder.finish();
    const outcomes = Array.from({ length: 40 }, (_, i) => ({ agent: `s${i}`, trace }));
    const kept = withinTraceBudget(outcomes);
    const withTrace = kept.filter((o) => o.trace).length;
    expect(withTrace).toBe(Math.floor(SUB_TRACES_BUDGET / JSON.stringify(trace).length));
    expect(kept.map((o) => o.agent)).toEqual(outcomes.map((o) => o.agent));
    expect(kept.slice(withTrace).every((o) => o.trace === undefined)).toBe(true);
  });
});
