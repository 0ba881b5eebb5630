import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack, testAgent } from '../support/local-stack.js';

// A main agent that may hand work to six sub-agents: four slow ones, one that throws, one that hangs.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    agents: {
      lead: testAgent(['offline'], {
        subAgents: ['alpha', 'beta', 'gamma', 'delta', 'boom', 'stuck'],
        maxChildren: 6,
        maxSpawnDepth: 1,
      }),
      alpha: testAgent(['test:delay=500']),
      beta: testAgent(['test:delay=500']),
      gamma: testAgent(['test:delay=500']),
      delta: testAgent(['test:delay=500']),
      boom: testAgent(['test:fail']),
      stuck: testAgent(['test:hang'], { timeout: '2s' }),
    } as never,
  });
});
afterAll(async () => stack?.stop());

const ms = (iso: string) => Date.parse(iso);

describe('fan-out to thread-bound sub-agents', () => {
  it('runs four sub-agents in parallel and merges them into one reply', async () => {
    await stack.call('POST', '/v1/threads', { body: { agent: 'lead', sessionKey: 'par' } });
    const submitted = await stack.call('POST', '/v1/threads/par/turns', {
      body: { input: '@alpha @beta @gamma @delta compare the four sources' },
    });
    const turn = await stack.finalTurn('par', submitted.body.turnId);
    expect(turn.status).toBe('succeeded');
    expect(turn.subAgents.map((s: { agent: string }) => s.agent).sort()).toEqual(['alpha', 'beta', 'delta', 'gamma']);
    // Parallel, not one after another: every sub-agent started before any of them ended.
    const latestStart = Math.max(...turn.subAgents.map((s: { startedAt: string }) => ms(s.startedAt)));
    const earliestEnd = Math.min(...turn.subAgents.map((s: { endedAt: string }) => ms(s.endedAt)));
    expect(latestStart).toBeLessThan(earliestEnd);
    // Exactly one reply, naming every sub-agent's answer.
    const history = await stack.call('GET', '/v1/threads/par/messages');
    expect(history.body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    for (const agent of ['alpha', 'beta', 'gamma', 'delta'])
      expect(turn.reply).toContain(`- ${agent}: [test ${agent}]`);

    // Each sub-agent worked in its own child thread, with lineage.
    const child = await stack.call('GET', '/v1/threads/par:alpha');
    expect(child.body).toMatchObject({
      agent: 'alpha',
      lineage: { parentSessionKey: 'par', parentTurnId: submitted.body.turnId, depth: 1 },
    });

    // Child threads live with their parent: terminating it terminates them, and gives their slots back.
    expect((await stack.agentCounters()).alpha!.activeThreads).toBeGreaterThan(0);
    await stack.call('DELETE', '/v1/threads/par');
    for (const agent of ['alpha', 'beta', 'gamma', 'delta']) {
      expect((await stack.call('GET', `/v1/threads/par:${agent}`)).body).toMatchObject({
        status: 'terminated',
        terminationReason: 'its parent thread "par" was terminated',
      });
    }
  });

  it('replaces a child thread that was terminated on its own, so the sub-agent stays usable', async () => {
    await stack.call('POST', '/v1/threads', { body: { agent: 'lead', sessionKey: 'phoenix' } });
    await stack.finalTurn(
      'phoenix',
      (await stack.call('POST', '/v1/threads/phoenix/turns', { body: { input: '@alpha first' } })).body.turnId,
    );
    const before = (await stack.call('GET', '/v1/threads/phoenix:alpha')).body;
    await stack.call('DELETE', '/v1/threads/phoenix:alpha');
    const turn = await stack.finalTurn(
      'phoenix',
      (await stack.call('POST', '/v1/threads/phoenix/turns', { body: { input: '@alpha second' } })).body.turnId,
    );
    expect(turn.subAgents[0]).toMatchObject({ agent: 'alpha', status: 'succeeded' });
    const after = (await stack.call('GET', '/v1/threads/phoenix:alpha')).body;
    expect(after).toMatchObject({ status: 'active', turnCount: 1 });
    expect(after.threadId).not.toBe(before.threadId);
  });

  it('degrades instead of failing: one sub-agent throws, one times out, the turn still gives one reply naming both', async () => {
    await stack.call('POST', '/v1/threads', { body: { agent: 'lead', sessionKey: 'partial' } });
    const submitted = await stack.call('POST', '/v1/threads/partial/turns', {
      body: { input: '@alpha @boom @stuck do your part' },
    });
    const turn = await stack.finalTurn('partial', submitted.body.turnId);
    expect(turn.status).toBe('succeeded');
    const byAgent = Object.fromEntries(turn.subAgents.map((s: { agent: string }) => [s.agent, s]));
    expect(byAgent.alpha).toMatchObject({ status: 'succeeded' });
    expect(byAgent.boom).toMatchObject({ status: 'failed', error: expect.stringContaining('failed on purpose') });
    expect(byAgent.stuck).toMatchObject({ status: 'timed_out' });
    expect(turn.reply).toContain('- boom: not available (failed: ModelError');
    expect(turn.reply).toContain('- stuck: not available (timed out)');
    expect((await stack.call('GET', '/v1/threads/partial/messages')).body.messages).toHaveLength(2);

    // Nothing is left held: the thread's lease, every child's lease, every running-turn slot.
    expect((await stack.call('GET', '/v1/threads/partial')).body.runningTurn).toBeUndefined();
    await eventually(async () => Object.values(await stack.agentCounters()).every((c) => c.runningTurns === 0));
    for (const agent of ['alpha', 'boom', 'stuck']) {
      await eventually(
        async () => (await stack.call('GET', `/v1/threads/partial:${agent}`)).body.runningTurn === undefined,
      );
    }
  });
});
