import { PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeAnthropic } from '../support/fake-anthropic.js';
import { TEST_KEYS, type TestStack } from '../support/local-stack.js';
import { type SecretsTestStack, startSecretsTestStack } from '../support/secrets.js';

// Turns of an agent whose model is the real Anthropic SDK against a loopback fake, its key in the
// local Secrets Manager endpoint: the resolver's cache, refresh and auth-retry as a deployment sees them.
const SECRET = 'anthropic-api-key';
const SECRET_ID = 'threadbound/anthropic-api-key';
const KEY_V1 = `sk-ant-test-${'1'.repeat(24)}`;
const KEY_V2 = `sk-ant-test-${'2'.repeat(24)}`;

let fake: FakeAnthropic;
let stack: TestStack;
let sm: SecretsManagerClient;
let started: SecretsTestStack | undefined;

beforeAll(async () => {
  started = await startSecretsTestStack({
    acceptKeys: [KEY_V1],
    agentSecrets: [SECRET],
    values: { [SECRET_ID]: KEY_V1 },
  });
  ({ fake, stack, sm } = started);
}, 60_000);

afterAll(() => started?.stop());

/** Runs one turn on a fresh or existing thread and returns its final view. */
async function turn(sessionKey: string, input: string): Promise<any> {
  const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, { body: { input } });
  expect(submitted.status).toBe(202);
  return stack.finalTurn(sessionKey, submitted.body.turnId);
}

const getSecretValueCalls = () => stack.secretsManager.calls('GetSecretValue', SECRET_ID);

describe('secrets in turns', () => {
  it('100 turns on 10 threads make exactly one GetSecretValue; after refresh, exactly one more', async () => {
    const threads = Array.from({ length: 10 }, (_, i) => `cache-${i}`);
    for (const sessionKey of threads)
      expect((await stack.call('POST', '/v1/threads', { body: { agent: 'main', sessionKey } })).status).toBe(201);
    const before = getSecretValueCalls();
    const results = await Promise.all(
      threads.map(async (sessionKey) => {
        const views = [];
        for (let i = 0; i < 10; i += 1) views.push(await turn(sessionKey, `question ${i}`));
        return views;
      }),
    );
    const views = results.flat();
    expect(views).toHaveLength(100);
    // Every reply came from the Anthropic model (the fake echoes), none from the offline fallback.
    expect(views.every((view) => view.status === 'succeeded' && view.reply.startsWith('echo: question'))).toBe(true);
    expect(getSecretValueCalls() - before).toBe(1);

    const refreshed = await stack.call('POST', `/v1/secrets/${SECRET}/refresh`, { key: TEST_KEYS.admin });
    expect(refreshed.status).toBe(200);
    await Promise.all(threads.map((sessionKey) => turn(sessionKey, 'after refresh')));
    expect(getSecretValueCalls() - before).toBe(2);

    const status = await stack.call('GET', `/v1/secrets/${SECRET}`, { key: TEST_KEYS.admin });
    expect(status.body).toMatchObject({
      name: SECRET,
      exists: true,
      agents: ['main'],
      stats: { reveals: 2, accesses: 110, epoch: 1 },
    });
    expect(JSON.stringify(status.body)).not.toContain(KEY_V1);
  });

  it('a key rotated underneath: the provider answers 401 once, the resolver refetches once, the turn succeeds', async () => {
    expect((await stack.call('POST', '/v1/threads', { body: { agent: 'main', sessionKey: 'rotated' } })).status).toBe(
      201,
    );
    await sm.send(new PutSecretValueCommand({ SecretId: SECRET_ID, SecretString: KEY_V2 }));
    fake.acceptKeys([KEY_V2]);
    const before = getSecretValueCalls();
    const requestsBefore = fake.requests.length;

    const view = await turn('rotated', 'still there?');
    expect(view).toMatchObject({ status: 'succeeded', reply: 'echo: still there?' });
    const seen = fake.requests.slice(requestsBefore);
    expect(seen.map((r) => (r.apiKey === KEY_V1 ? 'v1' : r.apiKey === KEY_V2 ? 'v2' : 'other'))).toEqual(['v1', 'v2']);
    expect(getSecretValueCalls() - before).toBe(1);

    const audit = await stack.call('GET', '/v1/audit?type=secret_reveal&period=1h&limit=200', { key: TEST_KEYS.admin });
    expect(audit.status).toBe(200);
    expect(audit.body.events.map((e: any) => e.data.reason)).toEqual(['cold', 'refresh', 'auth-retry']);
    expect(audit.body.events.at(-1)).toMatchObject({
      type: 'secret_reveal',
      agent: 'main',
      sessionKey: 'rotated',
      tenant: 'tenant-a',
      data: { secret: SECRET },
    });
  });

  it('refuses the admin routes to a tenant key and answers 404 for a secret that is not configured', async () => {
    expect((await stack.call('GET', '/v1/secrets')).status).toBe(403);
    expect((await stack.call('POST', `/v1/secrets/${SECRET}/refresh`)).status).toBe(403);
    expect((await stack.call('GET', '/v1/audit')).status).toBe(403);
    const unknown = await stack.call('GET', '/v1/secrets/nope', { key: TEST_KEYS.admin });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'unknown_secret' } } });
    const bad = await stack.call('GET', '/v1/audit?period=40d', { key: TEST_KEYS.admin });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'validation_failed' } } });
  });
});
