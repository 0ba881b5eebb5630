import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalSecretsManager, startLocalSecretsManager } from '../../infra/local/secrets-manager.js';
import { readChain } from '../../lib/adapters/dynamodb/audit-items.js';
import { agentChain, DynamoSecretLedger, secretChain } from '../../lib/adapters/dynamodb/secret-ledger.js';
import { SecretsManagerSource } from '../../lib/adapters/secrets-manager/secret-source.js';
import { verifyChain } from '../../lib/audit/verify.js';
import { parseConfig } from '../../lib/config/load.js';
import { SecretAdmin } from '../../lib/secrets/admin.js';
import { SecretError } from '../../lib/secrets/errors.js';
import { Redactor } from '../../lib/secrets/redactor.js';
import { SecretResolver } from '../../lib/secrets/resolver.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import { testAgent } from '../support/local-stack.js';

const config = parseConfig({
  threadManagement: { maxThreads: 10 },
  agents: {
    main: testAgent(['offline'], { secrets: ['alpha', 'json-key', 'signing'] }),
    helper: testAgent(['offline'], { secrets: ['beta'] }),
  },
  secrets: {
    alpha: { source: 'aws-secretsmanager://team/alpha', cacheDuration: '1h' },
    beta: { source: 'aws-secretsmanager://team/beta', cacheDuration: '1m', envVar: 'BETA_TOKEN' },
    'json-key': { source: 'aws-secretsmanager://team/json', jsonKey: 'apiKey' },
    missing: { source: 'aws-secretsmanager://team/missing' },
    signing: { source: 'aws-secretsmanager://team/signing', cacheDuration: '10m', rotation: { strategy: 'generated' } },
    placeholder: { source: 'aws-secretsmanager://team/placeholder' },
  },
});

const ALPHA_V1 = 'alpha-value-0001-XYZ';
const ALPHA_V2 = 'alpha-value-0002-XYZ';
const requester = { agent: 'main', tenant: 't1', sessionKey: 's1', turnId: 'turn_1' };

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
let table: TestTable;
let clock: number;

beforeAll(async () => {
  sm = await startLocalSecretsManager({ dataFile: join(mkdtempSync(join(tmpdir(), 'tb-sm-')), 'secrets.json') });
  client = new SecretsManagerClient({
    endpoint: sm.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateSecretCommand({ Name: 'team/alpha', SecretString: ALPHA_V1 }));
  await client.send(new CreateSecretCommand({ Name: 'team/beta', SecretString: 'beta-value-0001-XYZ' }));
  await client.send(
    new CreateSecretCommand({ Name: 'team/signing', SecretString: 'signing-v1-000000000000000000000000000000000' }),
  );
  await client.send(
    new CreateSecretCommand({
      Name: 'team/json',
      SecretString: JSON.stringify({ apiKey: 'json-inner-value-XYZ', other: 'json-other-field-XYZ' }),
    }),
  );
  await client.send(
    new CreateSecretCommand({
      Name: 'team/placeholder',
      SecretString: JSON.stringify({
        threadboundPlaceholder: 'set me with threadbound secrets create',
        nonce: 'abcdefghijklmnop',
      }),
    }),
  );
});

afterAll(async () => {
  client.destroy();
  await sm.stop();
});

beforeEach(async () => {
  table = await createTestTable('secrets');
  clock = Date.parse('2026-11-21T10:00:00Z');
});

function resolver(redactor = new Redactor()) {
  const ledger = new DynamoSecretLedger(table.client, table.tableName);
  return {
    ledger,
    redactor,
    resolver: new SecretResolver(config, new SecretsManagerSource(client), ledger, { redactor, now: () => clock }),
  };
}

describe('SecretResolver', () => {
  it('verify: across a rotation of a generated secret, each side accepts what the other made, in both directions, without downtime', async () => {
    const mac = (key: string, text: string) => createHmac('sha256', key).update(text).digest('hex');
    const checks = (text: string, signature: string) => (key: string) => mac(key, text) === signature;
    let senderClock = clock;
    const ledger = new DynamoSecretLedger(table.client, table.tableName);
    const sender = new SecretResolver(config, new SecretsManagerSource(client), ledger, {
      redactor: new Redactor(),
      now: () => senderClock,
    });
    const { resolver: verifier } = resolver();
    const v1 = (await sender.resolve('signing', requester)).value;
    expect(await verifier.verify('signing', requester, checks('hello', mac(v1, 'hello')))).toBe(true);

    // Rotated: the sender's cache expires first and it signs with v2; the verifier still holds v1.
    await client.send(
      new PutSecretValueCommand({
        SecretId: 'team/signing',
        SecretString: 'signing-v2-000000000000000000000000000000000',
      }),
    );
    senderClock += 11 * 60_000;
    const v2 = (await sender.resolve('signing', requester)).value;
    expect(v2).not.toBe(v1);
    const calls = sm.calls('GetSecretValue', 'team/signing');
    // The verifier does not know v2 yet: one refetch, then it verifies.
    expect(await verifier.verify('signing', requester, checks('new', mac(v2, 'new')))).toBe(true);
    // A sender still on v1 during the window: accepted as AWSPREVIOUS.
    expect(await verifier.verify('signing', requester, checks('old', mac(v1, 'old')))).toBe(true);
    // Once per rotation and process: the refetch, and AWSPREVIOUS beside the old and the new current.
    expect(sm.calls('GetSecretValue', 'team/signing') - calls).toBe(3);
    expect(await verifier.verify('signing', requester, checks('old', mac(v1, 'old')))).toBe(true);
    expect(sm.calls('GetSecretValue', 'team/signing') - calls).toBe(3);
    expect(await verifier.verify('signing', requester, checks('old', mac(v1, 'old again')))).toBe(false);

    // Two rotations later v1 is neither current nor previous: refused.
    await client.send(
      new PutSecretValueCommand({
        SecretId: 'team/signing',
        SecretString: 'signing-v3-000000000000000000000000000000000',
      }),
    );
    expect(
      await verifier.verify(
        'signing',
        requester,
        checks('v3', mac('signing-v3-000000000000000000000000000000000', 'v3')),
      ),
    ).toBe(true);
    expect(await verifier.verify('signing', requester, checks('old', mac(v1, 'old')))).toBe(false);

    // The previous version of a provider key is never offered (it is a revoked key).
    await client.send(new PutSecretValueCommand({ SecretId: 'team/alpha', SecretString: 'alpha-rotated-value-XYZ' }));
    const { resolver: fresh } = resolver();
    expect(await fresh.verify('alpha', requester, (key) => key === ALPHA_V1)).toBe(false);
    await client.send(new PutSecretValueCommand({ SecretId: 'team/alpha', SecretString: ALPHA_V1 })); // as the other tests expect it
  });

  it('makes one GetSecretValue for 50 concurrent cold requests, then serves the cache, and audits the one fetch', async () => {
    const { resolver: r, ledger } = resolver();
    const before = sm.calls('GetSecretValue', 'team/alpha');
    const values = await Promise.all(
      Array.from({ length: 50 }, (_, i) => r.resolve('alpha', { ...requester, sessionKey: `s${i}` })),
    );
    expect(new Set(values.map((v) => v.value))).toEqual(new Set([ALPHA_V1]));
    for (let i = 0; i < 50; i += 1) await r.resolve('alpha', requester);
    expect(sm.calls('GetSecretValue', 'team/alpha') - before).toBe(1);

    const stats = (await ledger.stats(['alpha'])).get('alpha')!;
    expect(stats).toMatchObject({ accesses: 100, reveals: 1, denials: 0 });
    const chain = await readChain(table.client, table.tableName, 'SECRET#alpha', secretChain('alpha'));
    expect(chain).toHaveLength(1);
    expect(chain[0]).toMatchObject({
      type: 'secret_reveal',
      agent: 'main',
      tenant: 't1',
      data: { secret: 'alpha', reason: 'cold', versionId: values[0]!.versionId },
    });
    expect(verifyChain(chain)).toBeUndefined();
    expect(JSON.stringify(chain)).not.toContain(ALPHA_V1);
  });

  it('refetches when the cache expires and when refresh moves the epoch, with the reason audited', async () => {
    const { resolver: r, ledger } = resolver();
    await r.resolve('beta', { ...requester, agent: 'helper' });
    clock += 30_000;
    await r.resolve('beta', { ...requester, agent: 'helper' });
    clock += 31_000; // past the 1m cacheDuration
    await r.resolve('beta', { ...requester, agent: 'helper' });
    await new SecretAdmin(config, new SecretsManagerSource(client), ledger).refresh('beta', 'key:test');
    await r.resolve('beta', { ...requester, agent: 'helper' });
    await r.resolve('beta', { ...requester, agent: 'helper' });
    const chain = await readChain(table.client, table.tableName, 'SECRET#beta', secretChain('beta'));
    expect(chain.map((e) => [e.type, e.data.reason])).toEqual([
      ['secret_reveal', 'cold'],
      ['secret_reveal', 'expired'],
      ['secret_refresh', undefined],
      ['secret_reveal', 'refresh'],
    ]);
    expect(verifyChain(chain)).toBeUndefined();
  });

  it('keeps serving AWSCURRENT while a new version waits as AWSPENDING, and refetches once when the key is refused', async () => {
    const { resolver: r, redactor } = resolver();
    const first = await r.resolve('alpha', requester);
    // A rotation in flight: the pending version is not served.
    const pending = await client.send(
      new PutSecretValueCommand({
        SecretId: 'team/alpha',
        SecretString: 'alpha-pending-value-XYZ',
        VersionStages: ['AWSPENDING'],
      }),
    );
    clock += 2 * 3_600_000; // expired: refetch still gets AWSCURRENT
    expect((await r.resolve('alpha', requester)).value).toBe(ALPHA_V1);

    // Rotated underneath: the provider refuses v1; concurrent refusals of v1 make one refetch.
    await client.send(new PutSecretValueCommand({ SecretId: 'team/alpha', SecretString: ALPHA_V2 }));
    const calls = sm.calls('GetSecretValue', 'team/alpha');
    const retried = await Promise.all(
      [1, 2, 3].map(() => r.resolve('alpha', requester, { rejectedVersion: first.versionId })),
    );
    expect(retried.map((v) => v.value)).toEqual([ALPHA_V2, ALPHA_V2, ALPHA_V2]);
    expect(sm.calls('GetSecretValue', 'team/alpha') - calls).toBe(1);
    // A late refusal of the old version does not refetch again: the cache already moved on.
    await r.resolve('alpha', requester, { rejectedVersion: first.versionId });
    expect(sm.calls('GetSecretValue', 'team/alpha') - calls).toBe(1);
    expect(pending.VersionId).not.toBe(retried[0]!.versionId);
    // Every version the process saw is known to the redactor.
    expect(redactor.redact(`${ALPHA_V1} ${ALPHA_V2}`)).toBe('[REDACTED:alpha] [REDACTED:alpha]');
  });

  it('refuses a secret the agent does not list, audits it in the agent chain, and never fetches it', async () => {
    const { resolver: r, ledger } = resolver();
    const before = sm.calls('GetSecretValue');
    await expect(r.resolve('beta', requester)).rejects.toMatchObject({ name: 'SecretError', code: 'secret_denied' });
    await expect(r.resolve('no-such-secret', requester)).rejects.toMatchObject({ code: 'secret_denied' });
    expect(sm.calls('GetSecretValue')).toBe(before);
    const chain = await readChain(table.client, table.tableName, 'AGENT#main', agentChain('main'));
    expect(chain.map((e) => [e.type, e.data.secret, e.sessionKey])).toEqual([
      ['secret_denied', 'beta', 's1'],
      ['secret_denied', 'no-such-secret', 's1'],
    ]);
    expect(verifyChain(chain)).toBeUndefined();
    expect((await ledger.stats(['beta'])).get('beta')).toMatchObject({ denials: 1, reveals: 0 });
  });

  it('extracts a JSON key, redacts both the field and the whole string, and gives envVar values only in-process', async () => {
    const { resolver: r, redactor } = resolver();
    expect((await r.resolve('json-key', requester)).value).toBe('json-inner-value-XYZ');
    expect(redactor.redact('leak: json-inner-value-XYZ')).toBe('leak: [REDACTED:json-key]');
    // The whole secret string, and its other fields too.
    const whole = JSON.stringify({ apiKey: 'json-inner-value-XYZ', other: 'json-other-field-XYZ' });
    expect(redactor.redact(`a ${whole} b json-other-field-XYZ`)).toBe('a [REDACTED:json-key] b [REDACTED:json-key]');
    const env = await r.environment({ ...requester, agent: 'helper' });
    expect(env).toEqual({ BETA_TOKEN: 'beta-value-0001-XYZ' });
    expect(process.env.BETA_TOKEN).toBeUndefined();
  });

  it('a value CloudFormation left as a placeholder is "not set yet", never served', async () => {
    const placeholderConfig = parseConfig({
      ...config,
      agents: { main: testAgent(['offline'], { secrets: ['placeholder'] }) },
    });
    const r = new SecretResolver(
      placeholderConfig,
      new SecretsManagerSource(client),
      new DynamoSecretLedger(table.client, table.tableName),
      { redactor: new Redactor(), now: () => clock },
    );
    await expect(r.resolve('placeholder', requester)).rejects.toMatchObject({ code: 'secret_not_found' });
  });

  it('a secret with no value yet is an error naming the fix, and is not asked for again on every turn', async () => {
    const missingConfig = parseConfig({
      ...config,
      agents: { main: testAgent(['offline'], { secrets: ['missing'] }) },
    });
    const ledger = new DynamoSecretLedger(table.client, table.tableName);
    const r = new SecretResolver(missingConfig, new SecretsManagerSource(client), ledger, {
      redactor: new Redactor(),
      now: () => clock,
    });
    const before = sm.calls('GetSecretValue', 'team/missing');
    const error = await r.resolve('missing', requester).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretError);
    expect((error as SecretError).code).toBe('secret_not_found');
    expect((error as SecretError).message).toContain('threadbound secrets create missing');
    await expect(r.resolve('missing', requester)).rejects.toMatchObject({ code: 'secret_not_found' });
    expect(sm.calls('GetSecretValue', 'team/missing') - before).toBe(1);
  });
});
