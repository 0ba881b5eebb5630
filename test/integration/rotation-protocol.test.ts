import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LocalSecretsManager,
  type RotationEvent,
  startLocalSecretsManager,
} from '../../infra/local/secrets-manager.js';
import { readChain } from '../../lib/adapters/dynamodb/audit-items.js';
import { DynamoSecretLedger, secretChain } from '../../lib/adapters/dynamodb/secret-ledger.js';
import { SecretsManagerVersions } from '../../lib/adapters/secrets-manager/secret-versions.js';
import { verifyChain } from '../../lib/audit/verify.js';
import { parseConfig } from '../../lib/config/load.js';
import type { ProviderKeyAdmin, RotationStep } from '../../lib/rotation/ports.js';
import { RotationProtocol } from '../../lib/rotation/protocol.js';
import { generatedStrategy, providerAdminStrategy, stagedStrategy } from '../../lib/rotation/strategies.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import { testAgent } from '../support/local-stack.js';

// The rotation protocol against the local Secrets Manager endpoint, which invokes it step by step
// as Secrets Manager invokes the rotation Lambda: faults injected at every step, then retried.
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:rotation-test';
const STEPS: RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];
const config = parseConfig({
  threadManagement: { maxThreads: 10 },
  agents: { main: testAgent(['offline'], { secrets: ['signing', 'provider', 'minted'] }) },
  secrets: {
    signing: { source: 'aws-secretsmanager://rot/signing', rotation: { strategy: 'generated' } },
    provider: { source: 'aws-secretsmanager://rot/provider', rotation: { strategy: 'staged' } },
    minted: {
      source: 'aws-secretsmanager://rot/minted',
      cacheDuration: '1m',
      rotation: { strategy: 'provider-admin' },
    },
  },
});

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
let table: TestTable;
let ledger: DynamoSecretLedger;
/** Keys the fake provider accepts (the staged strategy's testSecret asks it). */
const acceptedKeys = new Set<string>();
/** The fault to inject: [step, before|after doing its work], once. */
let fault: { step: RotationStep; when: 'before' | 'after' } | undefined;
/** A delay before each step (to race a second RotateSecret against a running rotation). */
let slowMs = 0;
let clock = Date.parse('2026-11-21T10:00:00Z');
let rotation: RotationProtocol | undefined;
const minted: string[] = [];
const revoked: string[] = [];
const admin: ProviderKeyAdmin = {
  mint: async () => {
    const key = `minted-key-${minted.length + 1}-${'x'.repeat(20)}`;
    minted.push(key);
    acceptedKeys.add(key); // the provider knows the keys it minted
    return key;
  },
  revoke: async (key) => void revoked.push(key),
};

beforeAll(async () => {
  table = await createTestTable('rotation');
  ledger = new DynamoSecretLedger(table.client, table.tableName);
  sm = await startLocalSecretsManager({
    dataFile: join(mkdtempSync(join(tmpdir(), 'tb-rot-')), 'sm.json'),
    rotationFunction: (arn) =>
      arn === FUNCTION_ARN
        ? async (event: RotationEvent) => {
            if (slowMs > 0) await new Promise((resolve) => setTimeout(resolve, slowMs));
            const injected = fault && fault.step === event.Step ? fault : undefined;
            if (injected?.when === 'before') {
              fault = undefined;
              throw new Error(`injected fault before ${event.Step}`);
            }
            await rotation!.step({ step: event.Step, secretId: event.SecretId, token: event.ClientRequestToken });
            if (injected?.when === 'after') {
              fault = undefined;
              throw new Error(`injected fault after ${event.Step}`);
            }
          }
        : undefined,
  });
  client = new SecretsManagerClient({
    endpoint: sm.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const verify = async (_name: string, key: string) => {
    if (!acceptedKeys.has(key)) throw new Error('401 authentication_error: invalid x-api-key');
    return ['fake'];
  };
  rotation = new RotationProtocol(
    config,
    new SecretsManagerVersions(client),
    (_name, strategy) =>
      strategy === 'generated'
        ? generatedStrategy
        : strategy === 'staged'
          ? stagedStrategy(verify)
          : providerAdminStrategy(admin, verify, ledger, () => new Date(clock)),
    ledger,
    () => new Date(clock),
  );
  await client.send(
    new CreateSecretCommand({ Name: 'rot/signing', SecretString: 'initial-signing-value-000000000000000000000' }),
  );
  await client.send(new CreateSecretCommand({ Name: 'rot/provider', SecretString: 'provider-key-1' }));
  acceptedKeys.add('provider-key-1');
});

afterAll(async () => {
  client.destroy();
  await sm.stop();
});

async function stages(name: string): Promise<Record<string, string[]>> {
  return (await client.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
}
const holding = (versions: Record<string, string[]>, stage: string) =>
  Object.entries(versions)
    .filter(([, s]) => s.includes(stage))
    .map(([id]) => id);
const current = async (name: string) =>
  (await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!;

/** RotateSecret as the schedule or the admin route calls it; resolves when the rotation (or its reattempt) has run. */
async function rotate(name: string): Promise<{ reattempted: boolean }> {
  let reattempted = false;
  try {
    await client.send(
      new RotateSecretCommand({
        SecretId: name,
        RotationLambdaARN: FUNCTION_ARN,
        RotationRules: { ScheduleExpression: 'rate(1 day)' },
      }),
    );
  } catch (error) {
    if (!/previous rotation isn.t complete/.test((error as Error).message)) throw error;
    reattempted = true;
  }
  await sm.rotations();
  return { reattempted };
}

describe('the rotation protocol', () => {
  it("answers Secrets Manager's configuration test (testSecret alone, on a version without a value) without failing", async () => {
    await client.send(
      new RotateSecretCommand({
        SecretId: 'rot/signing',
        RotationLambdaARN: FUNCTION_ARN,
        RotationRules: { ScheduleExpression: 'rate(1 day)' },
        RotateImmediately: false,
      }),
    );
    await sm.rotations();
    expect(sm.lastRotationError('rot/signing')).toBeUndefined();
    expect(holding(await stages('rot/signing'), 'AWSPENDING')).toEqual([]);
  });

  it('generated: a new 256-bit value becomes AWSCURRENT, the old one AWSPREVIOUS, and the rotation is audited', async () => {
    const before = await current('rot/signing');
    await rotate('rot/signing');
    const after = await current('rot/signing');
    expect(after).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(after).not.toBe(before);
    const versions = await stages('rot/signing');
    expect(holding(versions, 'AWSCURRENT')).toHaveLength(1);
    expect(
      (await client.send(new GetSecretValueCommand({ SecretId: 'rot/signing', VersionStage: 'AWSPREVIOUS' })))
        .SecretString,
    ).toBe(before);
    const chain = await readChain(table.client, table.tableName, 'SECRET#signing', secretChain('signing'));
    expect(chain.map((e) => e.type)).toEqual(['secret_rotated']);
    expect(chain[0]!.data).toMatchObject({ versionId: holding(versions, 'AWSCURRENT')[0], strategy: 'generated' });
    expect(JSON.stringify(chain)).not.toContain(after);
  });

  for (const step of STEPS) {
    for (const when of ['before', 'after'] as const) {
      it(`a fault ${when} ${step}: the retry completes, AWSCURRENT is a valid key, and no stale AWSPENDING blocks the next rotation`, async () => {
        const before = await current('rot/signing');
        fault = { step, when };
        await rotate('rot/signing');
        expect(fault).toBeUndefined(); // it fired
        const failed = sm.lastRotationError('rot/signing');
        expect(failed).toMatchObject({ step });
        // The retry: Secrets Manager reattempts the pending rotation with the same token.
        const pendingBefore = holding(await stages('rot/signing'), 'AWSPENDING');
        const retried = await rotate('rot/signing');
        const versions = await stages('rot/signing');
        const value = await current('rot/signing');
        expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
        if (step === 'finishSecret' && when === 'after') {
          // The fault came after the promotion: the rotation was already complete, the retry a new one.
          expect(retried.reattempted).toBe(false);
        } else {
          expect(retried.reattempted).toBe(true);
          expect(holding(versions, 'AWSCURRENT')).toEqual(pendingBefore);
          expect(value).not.toBe(before);
        }
        expect(holding(versions, 'AWSPENDING').every((id) => versions[id]!.includes('AWSCURRENT'))).toBe(true);
        // The next rotation is not blocked.
        const next = await rotate('rot/signing');
        expect(next.reattempted).toBe(false);
        expect(sm.lastRotationError('rot/signing')).toBeUndefined();
        const state = (await ledger.stats(['signing'])).get('signing')!;
        expect(state.lastRotationFailure).toBeUndefined();
        expect(state.lastRotatedVersionId).toBe(holding(await stages('rot/signing'), 'AWSCURRENT')[0]);
      });
    }
  }

  it('a RotateSecret arriving while a rotation runs neither starts a racing run nor records a failure', async () => {
    const chainBefore = (await readChain(table.client, table.tableName, 'SECRET#signing', secretChain('signing')))
      .length;
    slowMs = 40;
    try {
      await client.send(new RotateSecretCommand({ SecretId: 'rot/signing', RotationLambdaARN: FUNCTION_ARN }));
      await new Promise((resolve) => setTimeout(resolve, 60));
      // Mid-rotation: the pending version is not AWSCURRENT yet, so Secrets Manager "reattempts" it.
      await expect(
        client.send(new RotateSecretCommand({ SecretId: 'rot/signing', RotationLambdaARN: FUNCTION_ARN })),
      ).rejects.toThrow(/previous rotation isn.t complete/);
      await sm.rotations();
    } finally {
      slowMs = 0;
    }
    const added = (await readChain(table.client, table.tableName, 'SECRET#signing', secretChain('signing'))).slice(
      chainBefore,
    );
    expect(added.map((e) => e.type)).toEqual(['secret_rotated']);
    expect(sm.lastRotationError('rot/signing')).toBeUndefined();
    expect((await ledger.stats(['signing'])).get('signing')!.lastRotationFailure).toBeUndefined();
  });

  it('staged: a key that fails testSecret stays pending and is never promoted; the failure is on record; a good staged key then goes through', async () => {
    await client.send(
      new PutSecretValueCommand({
        SecretId: 'rot/provider',
        SecretString: 'provider-key-bad',
        VersionStages: ['AWSPENDING'],
      }),
    );
    expect(await rotate('rot/provider')).toEqual({ reattempted: true });
    expect(await current('rot/provider')).toBe('provider-key-1');
    const pending = holding(await stages('rot/provider'), 'AWSPENDING');
    expect(
      (await client.send(new GetSecretValueCommand({ SecretId: 'rot/provider', VersionStage: 'AWSPENDING' })))
        .SecretString,
    ).toBe('provider-key-bad');
    const state = (await ledger.stats(['provider'])).get('provider')!;
    expect(state.lastRotationFailure).toMatchObject({ step: 'testSecret', versionId: pending[0] });
    expect(state.lastRotationFailure!.error).toContain('refused');
    // Trying again changes nothing: the bad key is still refused.
    await rotate('rot/provider');
    expect(await current('rot/provider')).toBe('provider-key-1');

    // Invoked out of order or directly, finishSecret proves the key again and refuses to promote it.
    await expect(
      rotation!.step({ step: 'finishSecret', secretId: 'rot/provider', token: pending[0]! }),
    ).rejects.toMatchObject({ code: 'test_failed' });
    expect(await current('rot/provider')).toBe('provider-key-1');

    // The operator stages a working key: it replaces the bad one as AWSPENDING and is promoted.
    acceptedKeys.add('provider-key-2');
    await client.send(
      new PutSecretValueCommand({
        SecretId: 'rot/provider',
        SecretString: 'provider-key-2',
        VersionStages: ['AWSPENDING'],
      }),
    );
    expect(await rotate('rot/provider')).toEqual({ reattempted: true });
    expect(await current('rot/provider')).toBe('provider-key-2');
    expect((await ledger.stats(['provider'])).get('provider')!.lastRotationFailure).toBeUndefined();
    const chain = await readChain(table.client, table.tableName, 'SECRET#provider', secretChain('provider'));
    expect(chain.map((e) => `${e.type}:${e.data.step}`)).toEqual([
      'secret_rotation_failed:testSecret',
      'secret_rotation_failed:testSecret',
      'secret_rotation_failed:finishSecret',
      'secret_rotated:finishSecret',
    ]);
    expect(verifyChain(chain)).toBeUndefined();
    expect(JSON.stringify(chain)).not.toMatch(/provider-key-(bad|1|2)/);

    // Nothing staged: the daily rotation re-proves the current key and keeps it.
    await rotate('rot/provider');
    expect(await current('rot/provider')).toBe('provider-key-2');
  });

  it('provider-admin: mints a new key and revokes the previous one only after every cache could have dropped it', async () => {
    await client.send(
      new CreateSecretCommand({ Name: 'rot/minted', SecretString: 'minted-key-0-xxxxxxxxxxxxxxxxxxxx' }),
    );
    acceptedKeys.add('minted-key-0-xxxxxxxxxxxxxxxxxxxx');
    const mintedBefore = minted.length;
    await rotate('rot/minted');
    expect(await current('rot/minted')).toBe(minted[mintedBefore]);
    expect(revoked).toEqual([]);
    // Within cacheDuration + margin: the next rotation does not revoke yet.
    clock += 60_000;
    await rotate('rot/minted');
    expect(revoked).toEqual([]);
    // Later: the first retired key is revoked at the next rotation's start.
    clock += 20 * 60_000;
    await rotate('rot/minted');
    expect(revoked).toContain('minted-key-0-xxxxxxxxxxxxxxxxxxxx');
  });
});
