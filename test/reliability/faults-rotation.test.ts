import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AcceptedTurn, retryingClient, turnLedger } from '../support/fault-injection.js';
import { TEST_KEYS } from '../support/local-stack.js';
import { ROTATING, type SecretsTestStack, startRotatingSecretsStack } from '../support/secrets.js';
import { expectInvariants } from './invariants.js';
import { waitForQuiescence } from './support.js';

// Every INFO line (one per request, phase and turn) is a surface a secret could leak to: log them all
// here, before the logger is created (vi.hoisted runs ahead of the imports).
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
});

// A rotation during a storm: turns run on 6 threads at once (several queued per thread) on the keyed
// fake Anthropic provider while the staged provider key and a generated key rotate. Zero lost
// turns, and no secret value in any log line, API response or table item. The calm version with
// 20 rotations and one turn at a time per thread is test/integration/rotation-turns.test.ts.
const { key: KEY, keyId: KEY_ID, signing: SIGNING, signingId: SIGNING_ID } = ROTATING;
const providerKey = (i: number) => `sk-ant-storm-${String(i).padStart(4, '0')}-${'q'.repeat(24)}`;
const THREADS = 6;
const ROTATIONS = 4;

let started: SecretsTestStack | undefined;
const logged: string[] = [];
const writes = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };

beforeAll(async () => {
  // Every line this process writes (the handlers' Powertools logs included) is kept for the check.
  for (const stream of ['stdout', 'stderr'] as const) {
    process[stream].write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      logged.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      // Kept, not printed: at INFO the storm writes thousands of lines.
      const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  }
  started = await startRotatingSecretsStack(providerKey(0));
}, 60_000);

afterAll(async () => {
  process.stdout.write = writes.stdout;
  process.stderr.write = writes.stderr;
  await started?.stop();
});

describe('a rotation during a storm', () => {
  it(`${ROTATIONS} rotations of the staged provider key and the generated key while 6 threads each keep 3 turns in flight: zero lost turns, no secret value anywhere`, async () => {
    const { stack, sm, fake } = started!;
    const responses: unknown[] = [];
    const client = retryingClient(async (method, path, body) => {
      const result = await stack.call(method, path, body === undefined ? {} : { body });
      responses.push(result.body);
      return result;
    });
    const secretValues = new Set([providerKey(0)]);
    const currentValue = async (id: string) =>
      (await sm.send(new GetSecretValueCommand({ SecretId: id }))).SecretString!;
    secretValues.add(await currentValue(SIGNING_ID));

    const keys = Array.from({ length: THREADS }, (_, i) => `rs-${i}`);
    for (const key of keys)
      expect((await stack.call('POST', '/v1/threads', { body: { agent: 'main', sessionKey: key } })).status).toBe(201);
    let rotating = true;
    const accepted: AcceptedTurn[] = [];
    const finals: { status: string; reply?: string; error?: string }[] = [];
    // Each driver keeps up to 3 turns of its thread in flight: submitted at once, queued behind each
    // other (or refused with 409 while busy: onBusy is reject in the shipped config, so it retries).
    const drivers = keys.map(async (key) => {
      for (let round = 0; rotating; round += 1) {
        const batch = await Promise.all(
          [0, 1, 2].map(async (t) => {
            const input = `turn ${round}.${t} of ${key}`;
            for (;;) {
              const submitted = await client.submit(key, input, `${key}-${round}-${t}`);
              if ('turnId' in submitted) return submitted;
              expect(submitted).toMatchObject({ refused: 409, code: 'thread_busy' });
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }),
        );
        accepted.push(...batch);
        finals.push(...(await Promise.all(batch.map((turn) => client.final(turn.sessionKey, turn.turnId)))));
      }
    });

    for (let i = 1; i <= ROTATIONS; i += 1) {
      fake.acceptKeys([providerKey(i - 1), providerKey(i)]);
      secretValues.add(providerKey(i));
      await sm.send(
        new PutSecretValueCommand({ SecretId: KEY_ID, SecretString: providerKey(i), VersionStages: ['AWSPENDING'] }),
      );
      expect((await stack.call('POST', `/v1/secrets/${KEY}/rotate`, { key: TEST_KEYS.admin })).status).toBe(202);
      expect((await stack.call('POST', `/v1/secrets/${SIGNING}/rotate`, { key: TEST_KEYS.admin })).status).toBe(202);
      await stack.secretsManager.rotations();
      expect(await currentValue(KEY_ID)).toBe(providerKey(i));
      secretValues.add(await currentValue(SIGNING_ID));
      // Promoted: the provider revokes the old key; turns holding it refetch on the 401.
      fake.acceptKeys([providerKey(i)]);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    rotating = false;
    await Promise.all(drivers);

    expect(accepted.length).toBeGreaterThanOrEqual(THREADS * 3);
    expect(finals.filter((f) => f.status !== 'succeeded' || !f.reply?.startsWith('echo: turn'))).toEqual([]);
    await stack.stepFunctions.idle();
    await waitForQuiescence(stack.table);
    const items = await stack.table.scanAll();
    expect(turnLedger(items, accepted).problems).toEqual([]);
    await expectInvariants(stack.table, {
      quiescent: true,
      config: (await import('../../functions/shared/deps/config.js')).config,
    });

    // No value of any version of either secret left the process: logs, API answers, table items.
    expect(secretValues.size).toBe(2 * ROTATIONS + 2);
    const surfaces = { logs: logged.join(''), responses: JSON.stringify(responses), table: JSON.stringify(items) };
    for (const [surface, text] of Object.entries(surfaces)) {
      for (const value of secretValues)
        expect(text.includes(value), `a secret value appears in the ${surface}`).toBe(false);
    }
    expect(logged.length).toBeGreaterThan(0);
  }, 120_000);
});
