import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LocalSecretsManager,
  type RotationEvent,
  type RotationFunction,
  startLocalSecretsManager,
} from '../../infra/local/secrets-manager.js';

// Every assertion goes through the real SecretsManagerClient against the local endpoint. The
// quoted statements are from the Secrets Manager API reference (the documentation bundled with
// @aws-sdk/client-secrets-manager and the botocore service model) unless said otherwise.

const DAY = 86_400_000;
let clock = Date.parse('2026-05-01T10:30:00Z');
const now = () => new Date(clock);
const dir = mkdtempSync(join(tmpdir(), 'threadbound-sm-'));
const functions = new Map<string, RotationFunction>();
const started: LocalSecretsManager[] = [];

async function start(file: string): Promise<{ sm: LocalSecretsManager; client: SecretsManagerClient }> {
  const sm = await startLocalSecretsManager({
    dataFile: join(dir, file),
    rotationFunction: (arn) => functions.get(arn),
    now,
  });
  started.push(sm);
  return { sm, client: clientFor(sm.endpoint) };
}
const clientFor = (endpoint?: string) =>
  new SecretsManagerClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    ...(endpoint ? { endpoint } : {}),
  });

let sm: LocalSecretsManager;
let client: SecretsManagerClient;
beforeAll(async () => ({ sm, client } = await start('main.json')));
afterAll(async () => {
  for (const endpoint of started) await endpoint.stop();
  rmSync(dir, { recursive: true, force: true });
});

const create = (Name: string, SecretString?: string) => client.send(new CreateSecretCommand({ Name, SecretString }));
const get = (SecretId: string, select: { VersionId?: string; VersionStage?: string } = {}) =>
  client.send(new GetSecretValueCommand({ SecretId, ...select }));
const put = (
  SecretId: string,
  SecretString: string,
  more: { ClientRequestToken?: string; VersionStages?: string[] } = {},
) => client.send(new PutSecretValueCommand({ SecretId, SecretString, ...more }));
const stages = async (SecretId: string) =>
  (await client.send(new DescribeSecretCommand({ SecretId }))).VersionIdsToStages;
const move = (
  SecretId: string,
  VersionStage: string,
  ids: { MoveToVersionId?: string; RemoveFromVersionId?: string },
) => client.send(new UpdateSecretVersionStageCommand({ SecretId, VersionStage, ...ids }));
const rejectsWith = (promise: Promise<unknown>, name: string) => expect(promise).rejects.toMatchObject({ name });

describe('versions and staging labels', () => {
  it('creates the first version as AWSCURRENT and reads it by name, ARN, partial ARN, stage and version id', async () => {
    const created = await create('app/alpha', 'v1');
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:app\/alpha-[A-Za-z0-9]{6}$/);
    // "If you include SecretString or SecretBinary then Secrets Manager creates an initial secret version and automatically attaches the staging label AWSCURRENT to it."
    const current = await get('app/alpha');
    expect(current).toMatchObject({
      ARN: created.ARN,
      Name: 'app/alpha',
      VersionId: created.VersionId,
      SecretString: 'v1',
      VersionStages: ['AWSCURRENT'],
    });
    expect(current.CreatedDate).toEqual(now());
    // "If you don't specify either a VersionStage or VersionId, then Secrets Manager returns the AWSCURRENT version."
    expect((await get(created.ARN!, { VersionStage: 'AWSCURRENT' })).SecretString).toBe('v1');
    expect((await get(created.ARN!.slice(0, -7), { VersionId: created.VersionId })).SecretString).toBe('v1');
    // "If you include both this parameter and VersionStage, the two parameters must refer to the same secret version."
    expect((await get('app/alpha', { VersionId: created.VersionId, VersionStage: 'AWSCURRENT' })).SecretString).toBe(
      'v1',
    );
    await rejectsWith(
      get('app/alpha', { VersionId: created.VersionId, VersionStage: 'AWSPREVIOUS' }),
      'ResourceNotFoundException',
    );
    await rejectsWith(get('app/alpha', { VersionStage: 'AWSPREVIOUS' }), 'ResourceNotFoundException');
    await rejectsWith(get('app/alpha', { VersionId: randomUUID() }), 'ResourceNotFoundException');
  });

  it('PutSecretValue moves AWSCURRENT to the new version and AWSPREVIOUS to the one it left', async () => {
    const v1 = await create('app/beta', 'one');
    const v2 = await put('app/beta', 'two');
    // "If you don't include VersionStages, then Secrets Manager automatically moves the staging label AWSCURRENT to this version. [...]
    //  Secrets Manager also automatically moves the staging label AWSPREVIOUS to the version that AWSCURRENT was removed from."
    expect(v2.VersionStages).toEqual(['AWSCURRENT']);
    expect(await stages('app/beta')).toEqual({ [v1.VersionId!]: ['AWSPREVIOUS'], [v2.VersionId!]: ['AWSCURRENT'] });
    const v3 = await put('app/beta', 'three');
    // "Each staging label can be attached to only one version at a time": v1 loses AWSPREVIOUS and, with no label left,
    // "Versions that don't have staging labels are considered deprecated" and leave VersionIdsToStages.
    expect(await stages('app/beta')).toEqual({ [v2.VersionId!]: ['AWSPREVIOUS'], [v3.VersionId!]: ['AWSCURRENT'] });
    expect((await get('app/beta', { VersionStage: 'AWSPREVIOUS' })).SecretString).toBe('two');
    expect(await get('app/beta', { VersionId: v1.VersionId })).toMatchObject({
      SecretString: 'one',
      VersionStages: [],
    });
  });

  it('a repeated ClientRequestToken with the same value does nothing; with another value it fails', async () => {
    await create('app/gamma', 'first');
    const token = randomUUID();
    const once = await put('app/gamma', 'second', { ClientRequestToken: token });
    const before = await stages('app/gamma');
    // "If you call this operation with a ClientRequestToken that matches an existing version's VersionId, and you specify
    //  the same secret data, the operation succeeds but does nothing. However, if the secret data is different, then the operation fails"
    const twice = await put('app/gamma', 'second', { ClientRequestToken: token });
    expect(twice).toMatchObject({ VersionId: once.VersionId, VersionStages: ['AWSCURRENT'] });
    expect(await stages('app/gamma')).toEqual(before);
    await rejectsWith(put('app/gamma', 'something else', { ClientRequestToken: token }), 'ResourceExistsException');
    expect((await get('app/gamma')).SecretString).toBe('second');
  });

  it('a value put with VersionStages [AWSPENDING] leaves AWSCURRENT where it was', async () => {
    const v1 = await create('app/delta', 'live');
    const pending = await put('app/delta', 'candidate', { VersionStages: ['AWSPENDING'] });
    // "You can specify the staging labels to attach to the new version in VersionStages." Only those move.
    expect(pending.VersionStages).toEqual(['AWSPENDING']);
    expect(await get('app/delta')).toMatchObject({ VersionId: v1.VersionId, SecretString: 'live' });
    expect((await get('app/delta', { VersionStage: 'AWSPENDING' })).SecretString).toBe('candidate');
    expect(await stages('app/delta')).toEqual({
      [v1.VersionId!]: ['AWSCURRENT'],
      [pending.VersionId!]: ['AWSPENDING'],
    });
  });

  it('UpdateSecretVersionStage moves and removes labels with the documented checks', async () => {
    const v1 = await create('app/epsilon', 'one');
    const v2 = await put('app/epsilon', 'two', { VersionStages: ['AWSPENDING'] });
    // "If the staging label you are trying to attach to one version is already attached to a different version, then you must
    //  include this parameter and specify the version that the label is to be removed from. If the label is attached and you
    //  either do not specify this parameter, or the version ID does not match, then the operation fails."
    await rejectsWith(
      move('app/epsilon', 'AWSCURRENT', { MoveToVersionId: v2.VersionId }),
      'InvalidParameterException',
    );
    await rejectsWith(
      move('app/epsilon', 'AWSCURRENT', { MoveToVersionId: v2.VersionId, RemoveFromVersionId: v2.VersionId }),
      'InvalidParameterException',
    );
    await rejectsWith(
      move('app/epsilon', 'AWSCURRENT', { MoveToVersionId: randomUUID(), RemoveFromVersionId: v1.VersionId }),
      'InvalidParameterException',
    );
    await move('app/epsilon', 'AWSCURRENT', { MoveToVersionId: v2.VersionId, RemoveFromVersionId: v1.VersionId });
    // "The staging labels that you specify in the VersionStage parameter are added to the existing list of staging labels for the version."
    // "Whenever you move AWSCURRENT, Secrets Manager automatically moves the label AWSPREVIOUS to the version that AWSCURRENT was removed from."
    expect(await stages('app/epsilon')).toEqual({
      [v1.VersionId!]: ['AWSPREVIOUS'],
      [v2.VersionId!]: ['AWSPENDING', 'AWSCURRENT'],
    });
    // "To remove a label from a version, then do not specify [MoveToVersionId]."
    await move('app/epsilon', 'AWSPENDING', { RemoveFromVersionId: v2.VersionId });
    expect(await stages('app/epsilon')).toEqual({ [v1.VersionId!]: ['AWSPREVIOUS'], [v2.VersionId!]: ['AWSCURRENT'] });
    // AWSCURRENT can move but not vanish (the service refuses to leave a secret without a current version).
    await rejectsWith(
      move('app/epsilon', 'AWSCURRENT', { RemoveFromVersionId: v2.VersionId }),
      'InvalidParameterException',
    );
    // A label attached nowhere needs no RemoveFromVersionId; once attached it does.
    await move('app/epsilon', 'BLUE', { MoveToVersionId: v1.VersionId });
    await rejectsWith(move('app/epsilon', 'BLUE', { MoveToVersionId: v2.VersionId }), 'InvalidParameterException');
    // Rolling back ("To revert to the previous version of a secret, call UpdateSecretVersionStage") swaps CURRENT and PREVIOUS.
    await move('app/epsilon', 'AWSCURRENT', { MoveToVersionId: v1.VersionId, RemoveFromVersionId: v2.VersionId });
    expect(await stages('app/epsilon')).toEqual({
      [v1.VersionId!]: ['BLUE', 'AWSCURRENT'],
      [v2.VersionId!]: ['AWSPREVIOUS'],
    });
    expect((await get('app/epsilon')).SecretString).toBe('one');
  });

  it('DescribeSecret returns the metadata, never the value, and the access date truncated to the day', async () => {
    const created = await client.send(
      new CreateSecretCommand({
        Name: 'app/zeta',
        SecretString: 'hidden',
        Description: 'zeta key',
        KmsKeyId: 'alias/threadbound',
        Tags: [{ Key: 'agent', Value: 'zeta' }],
      }),
    );
    await get('app/zeta');
    const described = await client.send(new DescribeSecretCommand({ SecretId: created.ARN }));
    expect(described).toMatchObject({
      ARN: created.ARN,
      Name: 'app/zeta',
      Description: 'zeta key',
      KmsKeyId: 'alias/threadbound',
      Tags: [{ Key: 'agent', Value: 'zeta' }],
      VersionIdsToStages: { [created.VersionId!]: ['AWSCURRENT'] },
      CreatedDate: now(),
      LastChangedDate: now(),
    });
    // botocore model: "The last date that this secret was accessed. This value is truncated to midnight of the date".
    expect(described.LastAccessedDate).toEqual(new Date('2026-05-01T00:00:00Z'));
    // "If the secret has never been configured for rotation, Secrets Manager returns null."
    expect(described.RotationEnabled).toBeUndefined();
    expect(JSON.stringify(described)).not.toContain('hidden');
  });
});

describe('ListSecrets, DeleteSecret and errors', () => {
  it('pages with MaxResults and NextToken, in creation order, without values', async () => {
    const { client: own } = await start('list.json');
    for (const [i, name] of ['l/a', 'l/b', 'l/c', 'l/d', 'l/e'].entries()) {
      clock += 1000 * (i + 1);
      await own.send(new CreateSecretCommand({ Name: name, SecretString: `value-${name}` }));
    }
    await own.send(new DeleteSecretCommand({ SecretId: 'l/e' }));
    const pages: string[][] = [];
    let NextToken: string | undefined;
    do {
      const page = await own.send(new ListSecretsCommand({ MaxResults: 2, NextToken }));
      expect(JSON.stringify(page)).not.toContain('value-');
      pages.push(page.SecretList!.map((s) => s.Name!));
      NextToken = page.NextToken;
    } while (NextToken);
    // "Lists the secrets [...] not including secrets that are marked for deletion"; "Secrets are listed by CreatedDate."
    expect(pages).toEqual([
      ['l/a', 'l/b'],
      ['l/c', 'l/d'],
    ]);
    const withDeleted = await own.send(new ListSecretsCommand({ IncludePlannedDeletion: true }));
    expect(withDeleted.SecretList!.map((s) => s.Name)).toEqual(['l/a', 'l/b', 'l/c', 'l/d', 'l/e']);
    expect(withDeleted.SecretList![0]!.SecretVersionsToStages).toEqual({
      [(await own.send(new GetSecretValueCommand({ SecretId: 'l/a' }))).VersionId!]: ['AWSCURRENT'],
    });
    await rejectsWith(own.send(new ListSecretsCommand({ NextToken: 'not-a-token' })), 'InvalidNextTokenException');
    // botocore model: MaxResultsType min 1, max 100.
    await rejectsWith(own.send(new ListSecretsCommand({ MaxResults: 101 })), 'ValidationException');
  });

  it('DeleteSecret keeps the secret unusable for the recovery window; ForceDeleteWithoutRecovery removes it at once', async () => {
    await create('del/window', 'x');
    const deleted = await client.send(new DeleteSecretCommand({ SecretId: 'del/window' }));
    // "The default recovery window is 30 days."
    expect(deleted.DeletionDate).toEqual(new Date(clock + 30 * DAY));
    // "When a secret is scheduled for deletion, you cannot retrieve the secret value."
    await rejectsWith(get('del/window'), 'InvalidRequestException');
    await rejectsWith(put('del/window', 'y'), 'InvalidRequestException');
    await rejectsWith(create('del/window', 'again'), 'InvalidRequestException');
    expect((await client.send(new DescribeSecretCommand({ SecretId: 'del/window' }))).DeletedDate).toEqual(now());
    // "At the end of the recovery window, Secrets Manager deletes the secret permanently."
    clock += 31 * DAY;
    await rejectsWith(get('del/window'), 'ResourceNotFoundException');
    await create('del/window', 'reborn');

    // "The number of days from 7 to 30"; "You can't use both this parameter and ForceDeleteWithoutRecovery in the same call."
    await rejectsWith(
      client.send(new DeleteSecretCommand({ SecretId: 'del/window', RecoveryWindowInDays: 6 })),
      'InvalidParameterException',
    );
    await rejectsWith(
      client.send(
        new DeleteSecretCommand({ SecretId: 'del/window', RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true }),
      ),
      'InvalidParameterException',
    );
    await client.send(new DeleteSecretCommand({ SecretId: 'del/window', ForceDeleteWithoutRecovery: true }));
    await rejectsWith(get('del/window'), 'ResourceNotFoundException');
    await create('del/window', 'third life');
    // "If you forcibly delete an already deleted or nonexistent secret, the operation does not return ResourceNotFoundException."
    await client.send(new DeleteSecretCommand({ SecretId: 'del/never-existed', ForceDeleteWithoutRecovery: true }));
  });

  it('answers the documented error names', async () => {
    await rejectsWith(get('missing/secret'), 'ResourceNotFoundException');
    await rejectsWith(
      client.send(new DescribeSecretCommand({ SecretId: 'missing/secret' })),
      'ResourceNotFoundException',
    );
    await create('err/dup', 'x');
    await rejectsWith(create('err/dup', 'y'), 'ResourceExistsException');
    // "The secret name can contain ASCII letters, numbers, and the following characters: /_+=.@-" (AWS answers ValidationException);
    // botocore model: NameType min 1, max 512; ClientRequestTokenType min 32, max 64.
    await rejectsWith(create('has space', 'x'), 'ValidationException');
    await rejectsWith(create('a'.repeat(513), 'x'), 'ValidationException');
    await create(`${'a'.repeat(511)}@`, 'x');
    await rejectsWith(put('err/dup', 'y', { ClientRequestToken: 'short' }), 'ValidationException');
    // "You must include SecretBinary or SecretString" (AWS: InvalidRequestException, also for an empty string).
    await rejectsWith(client.send(new PutSecretValueCommand({ SecretId: 'err/dup' })), 'InvalidRequestException');
    await rejectsWith(put('err/dup', ''), 'InvalidRequestException');
  });

  it('counts requests per operation and per secret', async () => {
    const created = await create('count/me', 'x');
    const total = sm.calls('GetSecretValue');
    await get('count/me');
    expect(sm.calls('GetSecretValue', 'count/me')).toBe(1);
    await get(created.ARN!);
    expect(sm.calls('GetSecretValue', 'count/me')).toBe(2);
    expect(sm.calls('GetSecretValue')).toBe(total + 2);
    expect(sm.calls('CreateSecret', 'count/me')).toBe(1);
    expect(sm.calls('PutSecretValue', 'count/me')).toBe(0);
  });

  it('is reached through AWS_ENDPOINT_URL_SECRETS_MANAGER', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.endpoint;
    try {
      const before = sm.calls('GetSecretValue', 'app/alpha');
      expect((await clientFor().send(new GetSecretValueCommand({ SecretId: 'app/alpha' }))).SecretString).toBe('v1');
      expect(sm.calls('GetSecretValue', 'app/alpha')).toBe(before + 1);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
      else process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = saved;
    }
  });
});

describe('persistence', () => {
  it('keeps secrets, versions and labels across a restart, in an owner-only file written by rename', async () => {
    const first = await start('restart.json');
    const created = await first.client.send(new CreateSecretCommand({ Name: 'keep/me', SecretString: 'old' }));
    await first.client.send(new PutSecretValueCommand({ SecretId: 'keep/me', SecretString: 'new' }));
    await first.client.send(
      new PutSecretValueCommand({ SecretId: 'keep/me', SecretString: 'next', VersionStages: ['AWSPENDING'] }),
    );
    const before = await first.client.send(new DescribeSecretCommand({ SecretId: 'keep/me' }));
    await first.sm.stop();

    const second = await start('restart.json');
    const after = await second.client.send(new DescribeSecretCommand({ SecretId: created.ARN }));
    expect(after.ARN).toBe(created.ARN);
    expect(after.VersionIdsToStages).toEqual(before.VersionIdsToStages);
    expect((await second.client.send(new GetSecretValueCommand({ SecretId: 'keep/me' }))).SecretString).toBe('new');
    expect(
      (await second.client.send(new GetSecretValueCommand({ SecretId: 'keep/me', VersionStage: 'AWSPREVIOUS' })))
        .SecretString,
    ).toBe('old');
    expect(statSync(join(dir, 'restart.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('RotateSecret', () => {
  /** A rotation function as the AWS templates write one: createSecret and finishSecret through the SDK. */
  function rotationFunction(options: { failAt?: RotationEvent['Step']; gate?: Promise<void> } = {}) {
    const events: RotationEvent[] = [];
    const fn: RotationFunction = async (event) => {
      events.push(event);
      const { SecretId, ClientRequestToken } = event;
      if (event.Step === 'createSecret') {
        await options.gate;
        try {
          await client.send(
            new GetSecretValueCommand({ SecretId, VersionId: ClientRequestToken, VersionStage: 'AWSPENDING' }),
          );
        } catch (error) {
          if ((error as Error).name !== 'ResourceNotFoundException') throw error;
          await client.send(
            new PutSecretValueCommand({
              SecretId,
              ClientRequestToken,
              SecretString: `rotated-${ClientRequestToken}`,
              VersionStages: ['AWSPENDING'],
            }),
          );
        }
      }
      if (event.Step === options.failAt)
        throw Object.assign(new Error(`${event.Step} refused the new key`), { name: 'ProviderRejected' });
      if (event.Step === 'finishSecret') {
        const described = await client.send(new DescribeSecretCommand({ SecretId }));
        const current = Object.entries(described.VersionIdsToStages ?? {}).find(([, labels]) =>
          labels.includes('AWSCURRENT'),
        )?.[0];
        if (current === ClientRequestToken) return;
        await client.send(
          new UpdateSecretVersionStageCommand({
            SecretId,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: ClientRequestToken,
            RemoveFromVersionId: current,
          }),
        );
      }
    };
    return { fn, events };
  }
  const lambdaArn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

  it('runs the four steps in order after answering, and ends with the new version AWSCURRENT and the old AWSPREVIOUS', async () => {
    const old = await create('rot/ok', 'original');
    let open!: () => void;
    const rotation = rotationFunction({ gate: new Promise<void>((resolve) => (open = resolve)) });
    functions.set(lambdaArn('rotate-ok'), rotation.fn);
    const started = await client.send(
      new RotateSecretCommand({
        SecretId: 'rot/ok',
        RotationLambdaARN: lambdaArn('rotate-ok'),
        RotationRules: { AutomaticallyAfterDays: 7 },
      }),
    );

    // "During rotation, Secrets Manager creates an AWSPENDING version ID before creating the new secret version." Until
    // createSecret puts a value, that version has none to read ("the AWSPENDING staging label might be attached to an empty secret version").
    expect(await stages('rot/ok')).toEqual({ [old.VersionId!]: ['AWSCURRENT'], [started.VersionId!]: ['AWSPENDING'] });
    await rejectsWith(get('rot/ok', { VersionStage: 'AWSPENDING' }), 'ResourceNotFoundException');
    open();
    await sm.rotations();

    const arn = old.ARN!;
    expect(rotation.events.map((e) => e.Step)).toEqual(['createSecret', 'setSecret', 'testSecret', 'finishSecret']);
    for (const event of rotation.events)
      expect(event).toMatchObject({
        SecretId: arn,
        ClientRequestToken: started.VersionId,
        RotationToken: expect.any(String),
      });
    // User guide, How rotation works: finishSecret "moves the label AWSCURRENT from the previous secret version to this
    // version. Secrets Manager adds the AWSPREVIOUS staging label to the previous version".
    expect(await get('rot/ok')).toMatchObject({
      VersionId: started.VersionId,
      SecretString: `rotated-${started.VersionId}`,
    });
    expect((await get('rot/ok', { VersionStage: 'AWSPREVIOUS' })).VersionId).toBe(old.VersionId);
    const described = await client.send(new DescribeSecretCommand({ SecretId: 'rot/ok' }));
    expect(described).toMatchObject({
      RotationEnabled: true,
      RotationLambdaARN: lambdaArn('rotate-ok'),
      RotationRules: { AutomaticallyAfterDays: 7 },
      LastRotatedDate: now(),
    });
    expect(described.NextRotationDate).toEqual(new Date(clock + 7 * DAY));
    expect(sm.lastRotationError('rot/ok')).toBeUndefined();

    // Rotation again with the stored function: no RotationLambdaARN needed.
    const again = await client.send(new RotateSecretCommand({ SecretId: arn }));
    await sm.rotations();
    expect((await get('rot/ok')).VersionId).toBe(again.VersionId);
    expect((await get('rot/ok', { VersionStage: 'AWSPREVIOUS' })).VersionId).toBe(started.VersionId);
  });

  it('a failing step stops the rotation: AWSCURRENT stays, AWSPENDING stays, and RotateSecret refuses until it is cleared', async () => {
    const old = await create('rot/fail', 'original');
    const failing = rotationFunction({ failAt: 'testSecret' });
    functions.set(lambdaArn('rotate-fail'), failing.fn);
    const started = await client.send(
      new RotateSecretCommand({ SecretId: 'rot/fail', RotationLambdaARN: lambdaArn('rotate-fail') }),
    );
    await sm.rotations();

    expect(failing.events.map((e) => e.Step)).toEqual(['createSecret', 'setSecret', 'testSecret']);
    expect(sm.lastRotationError('rot/fail')).toMatchObject({
      step: 'testSecret',
      versionId: started.VersionId,
      errorType: 'ProviderRejected',
    });
    expect(await get('rot/fail')).toMatchObject({ VersionId: old.VersionId, SecretString: 'original' });
    expect(await stages('rot/fail')).toEqual({
      [old.VersionId!]: ['AWSCURRENT'],
      [started.VersionId!]: ['AWSPENDING'],
    });
    // "If the AWSPENDING staging label is present but not attached to the same version as AWSCURRENT, then any later
    //  invocation of RotateSecret assumes that a previous rotation request is still in progress and returns an error."
    await rejectsWith(client.send(new RotateSecretCommand({ SecretId: 'rot/fail' })), 'InvalidRequestException');

    await move('rot/fail', 'AWSPENDING', { RemoveFromVersionId: started.VersionId });
    const fixed = rotationFunction();
    functions.set(lambdaArn('rotate-fail'), fixed.fn);
    const retried = await client.send(new RotateSecretCommand({ SecretId: 'rot/fail' }));
    await sm.rotations();
    expect((await get('rot/fail')).VersionId).toBe(retried.VersionId);
    expect(sm.lastRotationError('rot/fail')).toBeUndefined();
  });

  it('a createSecret that fails leaves an AWSPENDING version without a value', async () => {
    await create('rot/empty', 'original');
    functions.set(lambdaArn('rotate-broken'), async () => Promise.reject(new Error('no provider')));
    const started = await client.send(
      new RotateSecretCommand({ SecretId: 'rot/empty', RotationLambdaARN: lambdaArn('rotate-broken') }),
    );
    await sm.rotations();
    expect(sm.lastRotationError('rot/empty')).toMatchObject({ step: 'createSecret', message: 'no provider' });
    // "When rotation is unsuccessful, the AWSPENDING staging label might be attached to an empty secret version."
    expect((await stages('rot/empty'))![started.VersionId!]).toEqual(['AWSPENDING']);
    await rejectsWith(get('rot/empty', { VersionStage: 'AWSPENDING' }), 'ResourceNotFoundException');
    await rejectsWith(get('rot/empty', { VersionId: started.VersionId }), 'ResourceNotFoundException');
  });

  it('with RotateImmediately false only testSecret runs, on an AWSPENDING version removed afterwards', async () => {
    const old = await create('rot/later', 'original');
    const rotation = rotationFunction();
    functions.set(lambdaArn('rotate-later'), rotation.fn);
    await client.send(
      new RotateSecretCommand({
        SecretId: 'rot/later',
        RotationLambdaARN: lambdaArn('rotate-later'),
        RotationRules: { ScheduleExpression: 'rate(10 days)' },
        RotateImmediately: false,
      }),
    );
    await sm.rotations();
    // "If you set RotateImmediately to false, Secrets Manager tests the rotation configuration by running the testSecret
    //  step of the Lambda rotation function. This test creates an AWSPENDING version of the secret and then removes it."
    expect(rotation.events.map((e) => e.Step)).toEqual(['testSecret']);
    expect(await stages('rot/later')).toEqual({ [old.VersionId!]: ['AWSCURRENT'] });
    const described = await client.send(new DescribeSecretCommand({ SecretId: 'rot/later' }));
    expect(described).toMatchObject({
      RotationEnabled: true,
      RotationRules: { ScheduleExpression: 'rate(10 days)' },
      NextRotationDate: new Date(clock + 10 * DAY),
    });
    expect(described.LastRotatedDate).toBeUndefined();
  });

  it('refuses without a rotation function, and for a function the local stack cannot invoke', async () => {
    await create('rot/none', 'x');
    // InvalidRequestException: "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN
    //  configured and you didn't include such an ARN as a parameter in this call."
    await rejectsWith(client.send(new RotateSecretCommand({ SecretId: 'rot/none' })), 'InvalidRequestException');
    await rejectsWith(
      client.send(new RotateSecretCommand({ SecretId: 'rot/none', RotationLambdaARN: lambdaArn('nobody') })),
      'AccessDeniedException',
    );
    expect((await client.send(new DescribeSecretCommand({ SecretId: 'rot/none' }))).RotationEnabled).toBeUndefined();
  });
});
