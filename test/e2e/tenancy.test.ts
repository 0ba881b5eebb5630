import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lib/api/routes.js';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/local-stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());

// Every route that names a thread, taken from the route table so a new route is covered automatically.
const threadRoutes = ROUTES.filter((route) => route.path.includes('{sessionKey}'));

describe('tenant isolation', () => {
  it('covers every thread route of the route table', () => {
    expect(threadRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      'DELETE /v1/threads/{sessionKey}',
      'GET /v1/threads/{sessionKey}',
      'GET /v1/threads/{sessionKey}/audit',
      'GET /v1/threads/{sessionKey}/messages',
      'GET /v1/threads/{sessionKey}/turns/{turnId}',
      'POST /v1/threads/{sessionKey}/restart',
      'POST /v1/threads/{sessionKey}/turns',
    ]);
  });

  it("answers 404 to tenant B on every route for tenant A's thread, and A's thread is unchanged", async () => {
    const spawned = await stack.call('POST', '/v1/threads', { body: { agent: 'data', sessionKey: 'a-private' } });
    expect(spawned.status).toBe(201);
    const turn = await stack.call('POST', '/v1/threads/a-private/turns', { body: { input: 'hello' } });
    expect((await stack.call('GET', `/v1/threads/a-private/turns/${turn.body.turnId}?wait=20`)).body.status).toBe(
      'succeeded',
    );
    const before = await stack.table.scanAll();

    // A valid body for each route that takes one, so B is refused for the thread, not for the body.
    const bodies: Record<string, unknown> = { 'threads-restart': {}, 'turns-submit': { input: 'let me in' } };
    for (const route of threadRoutes) {
      const fill = (key: string) => route.path.replace('{sessionKey}', key).replace('{turnId}', turn.body.turnId);
      const options = { key: TEST_KEYS.tenantB, ...(route.body ? { body: bodies[route.handler] } : {}) };
      const asB = await stack.call(route.method, fill('a-private'), options);
      expect(asB.status, `${route.method} ${route.path}`).toBe(404);
      expect(['thread_not_found', 'turn_not_found']).toContain(asB.body.error.code);
      // Indistinguishable from a key that exists nowhere.
      const missing = await stack.call(route.method, fill('never-existed'), options);
      expect(missing.status).toBe(asB.status);
      expect(missing.body.error.code).toBe(asB.body.error.code);
    }

    // B cannot detect the key by spawning it either: B simply gets its own thread with that key.
    const bSpawn = await stack.call('POST', '/v1/threads', {
      key: TEST_KEYS.tenantB,
      body: { agent: 'data', sessionKey: 'a-private' },
    });
    expect(bSpawn.status).toBe(201);
    const bList = await stack.call('GET', '/v1/threads', { key: TEST_KEYS.tenantB });
    expect(bList.body.threads.map((t: { threadId: string }) => t.threadId)).toEqual([bSpawn.body.threadId]);

    const after = (await stack.table.scanAll()).filter((item) => String(item.pk).startsWith('THREAD#tenant-a#'));
    expect(after).toEqual(before.filter((item) => String(item.pk).startsWith('THREAD#tenant-a#')));
    const aView = await stack.call('GET', '/v1/threads/a-private');
    expect(aView.body).toMatchObject({ status: 'active', generation: 1, threadId: spawned.body.threadId });
  });
});
