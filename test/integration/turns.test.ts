import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import { verifyChain } from '../../lib/audit/verify.js';
import { eventually, startTestStack, type TestStack, testAgent } from '../support/local-stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    agents: {
      slowpoke: testAgent(['test:delay=1500']),
      picky: testAgent(['offline'], { subAgents: ['data', 'analysis'], maxChildren: 1, maxSpawnDepth: 1 }),
      sleepy: testAgent(['test:hang-on=stall'], { timeout: '2s' }),
      narrow: testAgent(['test:delay=1500'], { maxConcurrentTurns: 2 }),
      forgetful: testAgent(['offline'], { memory: { maxTurns: 2, maxAge: '1h', maxBytes: 100000 } }),
      holder: testAgent(['test:hang-on=stall'], { timeout: '10s', onBusy: 'enqueue' }),
    } as never,
  });
});
afterAll(async () => stack?.stop());

const submit = (key: string, input: string) => stack.call('POST', `/v1/threads/${key}/turns`, { body: { input } });
const spawn = (agent: string, sessionKey: string) => stack.call('POST', '/v1/threads', { body: { agent, sessionKey } });

describe('turns', () => {
  it('long-polls a running turn with ?wait and returns the reply when done', async () => {
    await spawn('slowpoke', 'poll');
    const { body } = await submit('poll', 'take your time');
    expect((await stack.call('GET', `/v1/threads/poll/turns/${body.turnId}`)).body.status).toBe('running');
    const done = await stack.call('GET', `/v1/threads/poll/turns/${body.turnId}?wait=10`);
    expect(done.body).toMatchObject({ status: 'succeeded', reply: expect.stringContaining('[test slowpoke]') });
  });

  it('pages through the history by sequence number', async () => {
    await spawn('data', 'pages');
    for (const input of ['one', 'two', 'three'])
      await stack.finalTurn('pages', (await submit('pages', input)).body.turnId);
    const first = await stack.call('GET', '/v1/threads/pages/messages?limit=4');
    expect(first.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(first.body.nextAfter).toBe(4);
    const second = await stack.call('GET', `/v1/threads/pages/messages?after=${first.body.nextAfter}&limit=4`);
    expect(second.body.messages.map((m: { content: string }) => m.content)[0]).toBe('three');
    expect(second.body.nextAfter).toBeUndefined();
  });

  it("keeps a sub-agent's memory in its child thread across the parent's turns", async () => {
    await spawn('main', 'btc');
    const first = await stack.finalTurn('btc', (await submit('btc', 'analyse the BTC price trend')).body.turnId);
    expect(first.reply).toContain('[offline trading] Combined answer');
    const second = await stack.finalTurn('btc', (await submit('btc', 'analyse the trend again')).body.turnId);
    expect(second.subAgents.find((s: { agent: string }) => s.agent === 'data').reply).toContain(
      '(2 earlier message(s) in my thread)',
    );
    const child = await stack.call('GET', '/v1/threads/btc:data');
    expect(child.body).toMatchObject({
      agent: 'data',
      turnCount: 2,
      lineage: { parentSessionKey: 'btc', parentTurnId: first.turnId, depth: 1 },
    });
    expect((await stack.call('GET', '/v1/threads/btc:data/messages')).body.messages).toHaveLength(4);
  });

  it('refuses a plan that breaks maxChildren, audits why, and still answers', async () => {
    const spawned = await spawn('picky', 'picky');
    const turn = await stack.finalTurn('picky', (await submit('picky', 'analyse the trend')).body.turnId);
    expect(turn).toMatchObject({ status: 'succeeded', reply: expect.stringContaining('maxChildren is 1') });
    expect(turn.subAgents).toBeUndefined();
    const audit = await new DynamoThreadStore(stack.table.client, stack.table.tableName).auditTrail(
      'tenant-a',
      'picky',
      spawned.body.threadId,
    );
    expect(audit.map((e) => e.type)).toEqual(['thread_spawn', 'plan_refused', 'agent_exec']);
    expect(audit[1]!.data).toMatchObject({
      reason: expect.stringContaining('maxChildren'),
      agents: ['data', 'analysis'],
    });
    expect(verifyChain(audit)).toBeUndefined();
  });

  it('ends a turn past its timeout as timed_out with the lease and slot released', async () => {
    await spawn('sleepy', 'late');
    const turn = await stack.finalTurn('late', (await submit('late', 'please stall')).body.turnId);
    expect(turn).toMatchObject({ status: 'timed_out', error: expect.stringContaining('within 2 s') });
    expect((await stack.call('GET', '/v1/threads/late')).body.runningTurn).toBeUndefined();
    expect((await stack.agentCounters()).sleepy!.runningTurns).toBe(0);
    const sleepy = (await stack.call('GET', '/v1/agents')).body.agents.find(
      (a: { name: string }) => a.name === 'sleepy',
    );
    expect(sleepy.timedOutTurns).toBe(1);
    expect((await stack.finalTurn('late', (await submit('late', 'hello')).body.turnId)).status).toBe('succeeded');
  });

  it('enforces maxConcurrentTurns across threads of one agent', async () => {
    for (const key of ['n1', 'n2', 'n3', 'n4']) await spawn('narrow', key);
    const results = await Promise.all(['n1', 'n2', 'n3', 'n4'].map((key) => submit(key, 'hi')));
    expect(results.filter((r) => r.status === 202)).toHaveLength(2);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(2);
    expect(refused[0]!.body.error).toMatchObject({
      code: 'turn_limit_reached',
      details: { limit: 'maxConcurrentTurns', max: 2 },
    });
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
    await eventually(async () => (await stack.agentCounters()).narrow!.runningTurns === 0);
  });

  it('restart and terminate release a running turn: it is marked failed and its slot comes back', async () => {
    await spawn('sleepy', 'stuck-1');
    const running = await submit('stuck-1', 'stall here');
    expect((await stack.agentCounters()).sleepy!.runningTurns).toBe(1);
    await stack.call('POST', '/v1/threads/stuck-1/restart', { body: {} });
    expect((await stack.call('GET', `/v1/threads/stuck-1/turns/${running.body.turnId}`)).body).toMatchObject({
      status: 'failed',
      error: 'the thread was restarted',
    });
    expect((await stack.agentCounters()).sleepy!.runningTurns).toBe(0);

    await spawn('sleepy', 'stuck-2');
    const again = await submit('stuck-2', 'stall here');
    await stack.call('DELETE', '/v1/threads/stuck-2');
    expect((await stack.call('GET', `/v1/threads/stuck-2/turns/${again.body.turnId}`)).body).toMatchObject({
      status: 'failed',
      error: 'the thread was terminated',
    });
    expect((await stack.agentCounters()).sleepy).toMatchObject({ runningTurns: 0 });
    // The orphaned executions end at their timeout and find their lease gone: they change nothing.
    await stack.stepFunctions.idle();
    expect((await stack.agentCounters()).sleepy).toMatchObject({ runningTurns: 0 });
  });

  it('restart of a thread with queued turns starts them right away', async () => {
    await spawn('holder', 'restartq');
    const stalled = await submit('restartq', 'stall forever');
    const queued = await submit('restartq', 'next please');
    expect(queued.body.status).toBe('queued');
    await stack.call('POST', '/v1/threads/restartq/restart', { body: {} });
    const started = Date.now();
    expect(await stack.finalTurn('restartq', queued.body.turnId)).toMatchObject({ status: 'succeeded' });
    expect(Date.now() - started).toBeLessThan(5_000); // not after the stalled turn's 10 s timeout
    expect((await stack.call('GET', `/v1/threads/restartq/turns/${stalled.body.turnId}`)).body.status).toBe('failed');
  });

  it('terminating a kept thread gives its queued turns a final status', async () => {
    await spawn('holder', 'endq');
    const stalled = await submit('endq', 'stall forever');
    const queued = [await submit('endq', 'a'), await submit('endq', 'b')];
    expect(queued.map((q) => q.body.status)).toEqual(['queued', 'queued']);
    await stack.call('DELETE', '/v1/threads/endq');
    for (const t of [stalled, ...queued]) {
      expect((await stack.call('GET', `/v1/threads/endq/turns/${t.body.turnId}`)).body).toMatchObject({
        status: 'failed',
        error: 'the thread was terminated',
      });
    }
    expect(
      (await stack.table.scanAll()).filter((item) => item.kind === 'queue' && String(item.pk).endsWith('#endq')),
    ).toEqual([]);
    expect((await stack.agentCounters()).holder!.runningTurns).toBe(0);
  });

  it('shows the agent only its memory window (maxTurns)', async () => {
    await spawn('forgetful', 'window');
    let reply = '';
    for (let i = 0; i < 4; i += 1)
      reply = (await stack.finalTurn('window', (await submit('window', `turn ${i}`)).body.turnId)).reply;
    // 3 earlier exchanges exist (6 messages); maxTurns 2 shows 4 of them.
    expect(reply).toContain('This thread holds 4 earlier message(s)');
  });
});
