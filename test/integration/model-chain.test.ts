import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  anthropicResponses,
  contentText as anthropicText,
  type FakeAnthropic,
  startFakeAnthropic,
} from '../support/fake-anthropic.js';
import { type FakeOpenAI, contentText as openaiText, startFakeOpenAI } from '../support/fake-openai.js';
import { startTestStack, TEST_KEYS, type TestStack, testAgent } from '../support/local-stack.js';
import { localSecretsManagerClient } from '../support/secrets.js';

// Before any module creates its Metrics (vi.hoisted runs ahead of the imports): this test reads the EMF output.
vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

// The model chain as turns run it: real provider SDKs against loopback fakes of their APIs, the
// circuit breaker in the table, tools checked against the agent's permissions before they run.
const CHAIN = ['anthropic:claude-test', 'openai:gpt-test', 'offline'];
const SECRETS = ['anthropic-api-key', 'openai-api-key'];

let anthropic: FakeAnthropic;
let openai: FakeOpenAI;
let stack: TestStack;
let site: Server;
let siteHits = 0;
let siteHost: string;
const emf: string[] = [];
const write = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  anthropic = await startFakeAnthropic({
    default: (r) => anthropicResponses.text(`anthropic says: ${anthropicText(r.body.messages.at(-1).content)}`),
  });
  openai = await startFakeOpenAI({
    default: () => ({ kind: 'text', text: (body) => `openai says: ${openaiText(body.messages.at(-1)!.content)}` }),
  });
  site = createServer((_req, res) => {
    siteHits += 1;
    res.end('the forbidden page');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteHost = `127.0.0.1:${(site.address() as AddressInfo).port}`;
  const tools = (allow: string[], deny: string[]) => ({ allow, deny, httpAllowHosts: [siteHost] });
  stack = await startTestStack({
    agents: {
      main: testAgent(CHAIN, {
        secrets: SECRETS,
        subAgents: ['data'],
        maxChildren: 2,
        maxSpawnDepth: 1,
        tools: tools(['memory.read', 'memory.write', 'spawn'], ['http.post']),
      }),
      data: testAgent(['offline']),
      analysis: testAgent(['offline']),
      trading: testAgent(['offline']),
      hasty: testAgent(CHAIN, { secrets: SECRETS, timeout: '4s' }),
      // http.get both allowed and denied would fail config validation: deny-beats-allow is checked on 'looper' below.
      careful: testAgent(CHAIN, { secrets: SECRETS, tools: tools(['memory.read'], ['http.get']) }),
      looper: testAgent(CHAIN, { secrets: SECRETS, tools: { ...tools(['memory.read'], []), maxIterations: 2 } }),
      planner: testAgent(['offline'], {
        subAgents: ['data'],
        maxChildren: 1,
        maxSpawnDepth: 1,
        tools: tools(['memory.read'], ['spawn']),
      }),
    } as never,
    secrets: { 'openai-api-key': { source: 'aws-secretsmanager://threadbound/openai-api-key' } } as never,
    providers: { anthropic: { baseUrl: anthropic.url }, openai: { baseUrl: openai.url } },
    circuitBreaker: { failureThreshold: 3, cooldown: '1s' },
  });
  const sm = localSecretsManagerClient(stack.secretsManager.endpoint);
  await sm.send(
    new CreateSecretCommand({ Name: 'threadbound/anthropic-api-key', SecretString: 'sk-ant-chain-test-000000000000' }),
  );
  await sm.send(
    new CreateSecretCommand({ Name: 'threadbound/openai-api-key', SecretString: 'sk-openai-chain-test-00000000000' }),
  );
  sm.destroy();
  // The metrics are EMF lines on stdout, as in Lambda.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (String(chunk).includes('"_aws"')) emf.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
}, 60_000);

afterAll(async () => {
  process.stdout.write = write;
  await stack?.stop();
  await stack?.table.drop();
  await anthropic?.close();
  await openai?.close();
  site?.close();
});

async function spawnThread(agent: string, sessionKey: string): Promise<void> {
  expect((await stack.call('POST', '/v1/threads', { body: { agent, sessionKey } })).status).toBe(201);
}

async function turn(sessionKey: string, input: string): Promise<any> {
  const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, { body: { input } });
  expect(submitted.status).toBe(202);
  return stack.finalTurn(sessionKey, submitted.body.turnId);
}

const auditOf = async (type: string) =>
  (await stack.call('GET', `/v1/audit?type=${type}&period=1h&limit=200`, { key: TEST_KEYS.admin })).body
    .events as any[];

describe('the model chain', () => {
  it('anthropic answers 429: the reply comes from the OpenAI-compatible model, audited and counted; once anthropic recovers, turns go back to it', async () => {
    await spawnThread('main', 'fallback');
    anthropic.script(anthropicResponses.rateLimited(3));
    const first = await turn('fallback', 'hello there');
    expect(first).toMatchObject({ status: 'succeeded', reply: 'openai says: hello there' });

    const fallbacks = await auditOf('model_fallback');
    expect(fallbacks.at(-1)).toMatchObject({
      agent: 'main',
      sessionKey: 'fallback',
      data: { from: 'anthropic:claude-test', to: 'openai:gpt-test', status: 429, turnId: first.turnId },
    });
    expect(emf.some((line) => line.includes('"ModelFallback"') && line.includes('"provider":"anthropic"'))).toBe(true);

    // Retry-After (3 s) opened anthropic's circuit: it is skipped, not called, until then.
    const callsBefore = anthropic.requests.length;
    expect(await turn('fallback', 'still there?')).toMatchObject({ reply: 'openai says: still there?' });
    expect(anthropic.requests.length).toBe(callsBefore);
    expect((await auditOf('model_fallback')).at(-1)).toMatchObject({
      data: { from: 'anthropic:claude-test', reason: 'circuit open' },
    });

    // Recovered: after the cool-down one turn probes it, and traffic returns to the primary.
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    expect(await turn('fallback', 'back?')).toMatchObject({ reply: 'anthropic says: back?' });
    expect(await turn('fallback', 'and again')).toMatchObject({ reply: 'anthropic says: and again' });
  });

  it('a hung primary falls back within the agent timeout budget, not after it', async () => {
    await spawnThread('hasty', 'hung');
    anthropic.script(anthropicResponses.hang());
    const view = await turn('hung', 'are you there');
    expect(view).toMatchObject({ status: 'succeeded', reply: 'openai says: are you there' });
    const took = Date.parse(view.endedAt) - Date.parse(view.startedAt);
    expect(took).toBeLessThan(4_000);
    expect(took).toBeGreaterThanOrEqual(1_500); // the primary had its share of the budget
    expect(anthropic.pending()).toBe(0); // and its request was abandoned, not left running
  });

  it('a model that asks for a denied tool: the tool does not run, the denial is audited, the turn still completes with a reply', async () => {
    await spawnThread('careful', 'tooly');
    anthropic.script(
      anthropicResponses.toolUse([{ name: 'http__get', input: { url: `http://${siteHost}/secret-page` } }]),
      anthropicResponses.text('I answered without the page.'),
    );
    const view = await turn('tooly', 'fetch that page');
    expect(view).toMatchObject({ status: 'succeeded', reply: 'I answered without the page.' });
    expect(siteHits).toBe(0);
    // The model got the refusal as an error result of its call.
    const followUp = anthropic.requests.at(-1)!.body.messages.at(-1).content[0];
    expect(followUp).toMatchObject({ type: 'tool_result', is_error: true });
    expect(followUp.content).toContain('denied');
    expect((await auditOf('tool_denied')).at(-1)).toMatchObject({
      agent: 'careful',
      sessionKey: 'tooly',
      data: { tool: 'http.get', turnId: view.turnId },
    });
    expect(emf.some((line) => line.includes('"ToolDenied"'))).toBe(true);
    // The denied tool was never offered: only what tools.allow names (and tools.deny does not).
    expect(anthropic.requests.at(-1)!.body.tools.map((t: { name: string }) => t.name)).toEqual(['memory__read']);
  });

  it('the tool loop is bounded: after tools.maxIterations rounds the agent stops calling tools and still answers', async () => {
    await spawnThread('looper', 'loop');
    const before = anthropic.requests.length;
    const read = anthropicResponses.toolUse([{ name: 'memory__read', input: {} }]);
    anthropic.script(read, read, read);
    const view = await turn('loop', 'keep reading');
    expect(view.status).toBe('succeeded');
    expect(view.reply).toContain('stopped after 2 rounds');
    expect(anthropic.requests.length - before).toBe(3);
  });

  it('a model that plans by itself is held to the spawn permission: no fan-out for an agent that denies spawn', async () => {
    await spawnThread('planner', 'noplan');
    const view = await turn('noplan', '@data fetch the closes');
    expect(view.status).toBe('succeeded');
    expect(view.subAgents ?? []).toEqual([]);
    expect(view.reply).toContain('may not use');
    expect((await auditOf('tool_denied')).at(-1)).toMatchObject({ agent: 'planner', data: { tool: 'spawn' } });
  });

  it('allowed tools run: memory.write then memory.read round-trip through the model, scoped to the thread', async () => {
    await spawnThread('main', 'notes');
    anthropic.script(
      anthropicResponses.toolUse([{ name: 'memory__write', input: { key: 'city', value: 'Paris' } }]),
      anthropicResponses.toolUse([{ name: 'memory__read', input: { key: 'city' } }]),
      (r) => anthropicResponses.text(`noted: ${JSON.stringify(r.body.messages.at(-1).content[0].content)}`),
    );
    const view = await turn('notes', 'remember Paris');
    expect(view).toMatchObject({ status: 'succeeded', reply: 'noted: "city: Paris"' });
  });

  it('spawn: the model hands work to a sub-agent through the tool, and the fan-out merges its answer into one reply', async () => {
    await spawnThread('main', 'fanout');
    anthropic.script(
      anthropicResponses.toolUse([{ name: 'spawn', input: { agent: 'data', task: 'fetch the BTC closes' } }]),
    );
    const view = await turn('fanout', 'what did BTC do?');
    expect(view.status).toBe('succeeded');
    expect(view.subAgents).toEqual([
      expect.objectContaining({ agent: 'data', status: 'succeeded', sessionKey: 'fanout:data' }),
    ]);
    // The merge ran on the main agent's chain: anthropic got the sub-agent's result as JSON.
    expect(view.reply).toContain('anthropic says: Request:');
    expect(view.reply).toContain('fetch the BTC closes');
  });
});
