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
      'POST /v1/threads/{sessionKey}/restart',
    ]);
  });

  it("answers 404 to tenant B on every route for tenant A's thread, and A's thread is unchanged", async () => {
    const spawned = await stack.call('POST', '/v1/threads', { body: { agent: 'data', sessionKey: 'a-private' } });
    expect(spawned.status).toBe(201);
    const before = await stack.table.scanAll();

    for (const route of threadRoutes) {
      const path = route.path.replace('{sessionKey}', 'a-private');
      const asB = await stack.call(route.method, path, { key: TEST_KEYS.tenantB, ...(route.body ? { body: {} } : {}) });
      expect(asB.status, `${route.method} ${route.path}`).toBe(404);
      expect(asB.body.error.code).toBe('thread_not_found');
      // Indistinguishable from a key that exists nowhere.
      const missing = await stack.call(route.method, route.path.replace('{sessionKey}', 'never-existed'), { key: TEST_KEYS.tenantB, ...(route.body ? { body: {} } : {}) });
      expect(missing.status).toBe(asB.status);
      expect(missing.body.error.code).toBe(asB.body.error.code);
    }

    // B cannot detect the key by spawning it either: B simply gets its own thread with that key.
    const bSpawn = await stack.call('POST', '/v1/threads', { key: TEST_KEYS.tenantB, body: { agent: 'data', sessionKey: 'a-private' } });
    expect(bSpawn.status).toBe(201);
    const bList = await stack.call('GET', '/v1/threads', { key: TEST_KEYS.tenantB });
    expect(bList.body.threads.map((t: { threadId: string }) => t.threadId)).toEqual([bSpawn.body.threadId]);

    const after = (await stack.table.scanAll()).filter((item) => String(item.pk).startsWith('THREAD#tenant-a#'));
    expect(after).toEqual(before.filter((item) => String(item.pk).startsWith('THREAD#tenant-a#')));
    const aView = await stack.call('GET', '/v1/threads/a-private');
    expect(aView.body).toMatchObject({ status: 'active', generation: 1, threadId: spawned.body.threadId });
  });
});
