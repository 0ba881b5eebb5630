import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotationTick } from '../../infra/local/rotation-schedule.js';
import type { FakeAnthropic } from '../support/fake-anthropic.js';
import { eventually, TEST_KEYS, type TestStack } from '../support/local-stack.js';
import { ROTATING, type SecretsTestStack, startRotatingSecretsStack } from '../support/secrets.js';

// Rotation through the running stack: the admin route's RotateSecret, the local endpoint invoking
// the rotation handler's four steps, and turns that keep running on the rotated key.
const { key: KEY, keyId: KEY_ID, signing: SIGNING, signingId: SIGNING_ID } = ROTATING;
const providerKey = (i: number) => `sk-ant-rot-${String(i).padStart(4, '0')}-${'k'.repeat(20)}`;

let fake: FakeAnthropic;
let stack: TestStack;
let sm: SecretsManagerClient;
let started: SecretsTestStack | undefined;

beforeAll(async () => {
  started = await startRotatingSecretsStack(providerKey(0));
  ({ fake, stack, sm } = started);
}, 60_000);

afterAll(() => started?.stop());

const admin = (method: string, path: string) => stack.call(method, path, { key: TEST_KEYS.admin });
const currentValue = async (id: string) => (await sm.send(new GetSecretValueCommand({ SecretId: id }))).SecretString!;

describe('rotation with turns running', () => {
  it('the stack created the generated secret with a usable random value', async () => {
    expect(await currentValue(SIGNING_ID)).toMatch(/^[A-Za-z0-9]{43}$/);
  });

  it('20 rotations (a new staged provider key each time, the old one revoked after promotion, and the generated key) while turns run on 4 threads: zero failed turns', async () => {
    const threads = ['r0', 'r1', 'r2', 'r3'];
    for (const sessionKey of threads)
      expect((await stack.call('POST', '/v1/threads', { body: { agent: 'main', sessionKey } })).status).toBe(201);
    let rotating = true;
    const outcomes: { status: string; reply: string }[] = [];
    const drivers = threads.map(async (sessionKey) => {
      for (let i = 0; rotating; i += 1) {
        const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, { body: { input: `turn ${i}` } });
        expect(submitted.status).toBe(202);
        const view = await stack.finalTurn(sessionKey, submitted.body.turnId);
        outcomes.push({ status: view.status, reply: view.reply ?? view.error });
      }
    });

    for (let i = 1; i <= 20; i += 1) {
      // The operator gets a new key from the provider (both work for a while) and stages it.
      fake.acceptKeys([providerKey(i - 1), providerKey(i)]);
      await sm.send(
        new PutSecretValueCommand({ SecretId: KEY_ID, SecretString: providerKey(i), VersionStages: ['AWSPENDING'] }),
      );
      const rotated = await admin('POST', `/v1/secrets/${KEY}/rotate`);
      expect(rotated).toMatchObject({ status: 202, body: { name: KEY, reattempted: true } });
      expect((await admin('POST', `/v1/secrets/${SIGNING}/rotate`)).status).toBe(202);
      await stack.secretsManager.rotations();
      expect(await currentValue(KEY_ID)).toBe(providerKey(i));
      // Promoted: the provider revokes the previous key; turns still holding it refetch on the 401.
      fake.acceptKeys([providerKey(i)]);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    rotating = false;
    await Promise.all(drivers);

    expect(outcomes.length).toBeGreaterThanOrEqual(40);
    const failed = outcomes.filter((o) => o.status !== 'succeeded' || !o.reply.startsWith('echo: turn'));
    expect(failed).toEqual([]);
    const status = await admin('GET', `/v1/secrets/${SIGNING}`);
    expect(status.body.stats.lastRotationFailure).toBeUndefined();
    expect(await currentValue(SIGNING_ID)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The keys the provider refused were refetched, not failed: at least one auth-retry happened.
    const audit = await admin('GET', '/v1/audit?type=secret_reveal&period=1h&limit=200');
    expect(audit.body.events.some((e: any) => e.data.reason === 'auth-retry')).toBe(true);
    const rotations = await admin('GET', '/v1/audit?type=secret_rotated&period=1h&limit=200');
    expect(rotations.body.events.filter((e: any) => e.data.secret === KEY)).toHaveLength(20);
    expect(rotations.body.events.filter((e: any) => e.data.secret === SIGNING)).toHaveLength(20);
  }, 120_000);

  it('GET /v1/secrets/{name} shows last rotated, next rotation, the version ids by stage and the last failure', async () => {
    await sm.send(
      new PutSecretValueCommand({
        SecretId: KEY_ID,
        SecretString: 'sk-ant-refused-by-the-provider-000',
        VersionStages: ['AWSPENDING'],
      }),
    );
    expect((await admin('POST', `/v1/secrets/${KEY}/rotate`)).status).toBe(202);
    await stack.secretsManager.rotations();
    const status = await admin('GET', `/v1/secrets/${KEY}`);
    expect(status.status).toBe(200);
    const { metadata, stats } = status.body;
    expect(metadata.rotationEnabled).toBe(true);
    expect(Date.parse(metadata.lastRotatedDate)).toBeGreaterThan(Date.now() - 120_000);
    expect(Date.parse(metadata.nextRotationDate)).toBeGreaterThan(Date.now());
    expect(metadata.versions.AWSCURRENT).toHaveLength(1);
    expect(metadata.versions.AWSPENDING).toHaveLength(1);
    expect(metadata.versions.AWSPREVIOUS).toHaveLength(1);
    expect(stats.lastRotationFailure).toMatchObject({ step: 'testSecret', versionId: metadata.versions.AWSPENDING[0] });
    expect(JSON.stringify(status.body)).not.toContain('sk-ant-refused');
    expect(await currentValue(KEY_ID)).toBe(providerKey(20));
    const failures = await admin('GET', '/v1/audit?type=secret_rotation_failed&period=1h');
    expect(failures.body.events.at(-1)).toMatchObject({ data: { secret: KEY, step: 'testSecret' } });
  });

  it('the local schedule rotates a secret once its interval has passed since its last rotation', async () => {
    const { secretAdmin } = await import('../../functions/shared/deps/secret-admin.js');
    const config = (await import('../../functions/shared/deps/config.js')).config;
    const rotated: string[] = [];
    const startedAt = new Date();
    const tick = (now: Date) =>
      rotationTick(
        config,
        sm,
        async (name) => void rotated.push(name),
        startedAt,
        () => now,
      )();
    expect(await tick(new Date(Date.now() + 60_000))).toEqual([]);
    expect((await tick(new Date(Date.now() + 25 * 3_600_000))).sort()).toEqual([KEY, SIGNING]);
    // The real rotate of the tick: the generated key rotates through the same path as the route.
    const before = await currentValue(SIGNING_ID);
    await rotationTick(
      config,
      sm,
      (name) => (name === SIGNING ? secretAdmin.rotate(name) : Promise.resolve()),
      startedAt,
      () => new Date(Date.now() + 25 * 3_600_000),
    )();
    await stack.secretsManager.rotations();
    await eventually(async () => (await currentValue(SIGNING_ID)) !== before);
    expect(rotated.sort()).toEqual([KEY, SIGNING]);
  });
});
