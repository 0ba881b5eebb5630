import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/local-stack.js';

// An agent with room for 20 threads, raced by 200 concurrent spawns over real HTTP.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ agents: { data: { maxActiveThreads: 20 } } });
});
afterAll(async () => stack?.stop());

const counters = async () => {
  const { body } = await stack.call('GET', '/v1/agents');
  return {
    agent: body.agents.find((a: { name: string }) => a.name === 'data').activeThreads,
    deployment: body.deployment.activeThreads,
  };
};

describe('limits under concurrent spawns', () => {
  it('admits exactly maxActiveThreads of 200 concurrent spawns and gives each slot back exactly once', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () => stack.call('POST', '/v1/threads', { body: { agent: 'data' } })),
    );
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 429);
    expect(created).toHaveLength(20);
    expect(refused).toHaveLength(180);
    for (const r of refused) {
      expect(r.body.error.code).toBe('limit_reached');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(new Set(created.map((r) => r.body.sessionKey)).size).toBe(20);
    expect(await counters()).toEqual({ agent: 20, deployment: 20 });
    const threadItems = (await stack.table.scanAll()).filter((item) => item.kind === 'thread');
    expect(threadItems).toHaveLength(20);

    // Terminate every thread twice, all 40 calls at once: each slot must come back exactly once.
    const terminations = await Promise.all(
      created.flatMap((r) => [r, r]).map((r) => stack.call('DELETE', `/v1/threads/${r.body.sessionKey}`)),
    );
    expect(terminations.every((t) => t.status === 200)).toBe(true);
    expect(terminations.filter((t) => t.body.alreadyTerminated === false)).toHaveLength(20);
    expect(await counters()).toEqual({ agent: 0, deployment: 0 });

    // The freed slots are usable again.
    const again = await stack.call('POST', '/v1/threads', { body: { agent: 'data' } });
    expect(again.status).toBe(201);
    expect(await counters()).toEqual({ agent: 1, deployment: 1 });
  });
});
