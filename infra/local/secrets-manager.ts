import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname } from 'node:path';
import { LocalStackError } from './errors.js';

/** The steps Secrets Manager invokes a rotation function with, in this order. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** One step of a rotation. */
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** The event a rotation Lambda receives from Secrets Manager. */
export interface RotationEvent {
  Step: RotationStep;
  /** The secret's ARN. */
  SecretId: string;
  /** The version id of the new (AWSPENDING) version. */
  ClientRequestToken: string;
  RotationToken?: string;
}

/** A rotation function, as the local stack invokes it in place of the rotation Lambda. */
export type RotationFunction = (event: RotationEvent) => Promise<unknown>;

/** Why the last rotation of a secret failed (what CloudWatch would show on AWS). */
export interface RotationFailure {
  step: RotationStep;
  versionId: string;
  errorType: string;
  message: string;
  at: Date;
}

/** Options of the local Secrets Manager endpoint. */
export interface LocalSecretsManagerOptions {
  /** JSON file holding every secret; created on first change, reloaded at start. */
  dataFile: string;
  /** Resolves a rotation Lambda ARN to the function the local stack runs for it. */
  rotationFunction?: (arn: string) => RotationFunction | undefined;
  /** The clock (dates, recovery windows, rotation schedule); tests pass a fake one. */
  now?: () => Date;
}

/** A running local Secrets Manager endpoint. */
export interface LocalSecretsManager {
  endpoint: string;
  /** Requests received for an operation, in total or for one secret (by name). */
  calls(operation: string, secretName?: string): number;
  /** Resolves when no rotation is running. */
  rotations(): Promise<void>;
  /** The failure of the secret's last rotation, if it failed and none has succeeded since. */
  lastRotationError(secretName: string): RotationFailure | undefined;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const ARN_PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;
const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const PENDING = 'AWSPENDING';
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The character set the CreateSecret reference allows in a name. */
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]+$/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface Tag {
  Key?: string;
  Value?: string;
}

interface RotationRules {
  AutomaticallyAfterDays?: number;
  Duration?: string;
  ScheduleExpression?: string;
}

interface StoredVersion {
  versionId: string;
  /** Absent while the version is a placeholder RotateSecret created and createSecret has not filled. */
  secretString?: string;
  /** Base64, as on the wire. */
  secretBinary?: string;
  stages: string[];
  createdDate: string;
}

interface StoredSecret {
  name: string;
  arn: string;
  description?: string;
  kmsKeyId?: string;
  tags?: Tag[];
  createdDate: string;
  lastChangedDate: string;
  lastAccessedDate?: string;
  lastRotatedDate?: string;
  /** When DeleteSecret was called. */
  deletedDate?: string;
  /** End of the recovery window: the secret is purged after it. */
  deletionDate?: string;
  rotationEnabled?: boolean;
  rotationLambdaArn?: string;
  rotationRules?: RotationRules;
  nextRotationDate?: string;
  versions: StoredVersion[];
}

interface StoredState {
  format: 1;
  secrets: StoredSecret[];
}

type Body = Record<string, unknown>;

/** An error answered as Secrets Manager answers it: `__type` in the body, `x-amzn-ErrorType` header. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const notFound = (message = "Secrets Manager can't find the specified secret.") =>
  new ServiceError('ResourceNotFoundException', message);
const invalidParameter = (message: string) => new ServiceError('InvalidParameterException', message);
const invalidRequest = (message: string) => new ServiceError('InvalidRequestException', message);

/** The front-end check AWS applies to a modelled constraint (length, range, required). */
function validation(field: string, rule: string, value?: unknown): ServiceError {
  const shown =
    value === undefined
      ? ''
      : ` '${typeof value === 'string' && value.length > 64 ? `${value.slice(0, 64)}…` : String(value)}'`;
  const at = value === undefined ? `Value null at '${field}'` : `Value${shown} at '${field}'`;
  return new ServiceError(
    'ValidationException',
    `1 validation error detected: ${at} failed to satisfy constraint: Member must ${rule}`,
  );
}

const wireName = (key: string) => key.charAt(0).toLowerCase() + key.slice(1);

/** A string member of the request, checked against the service model's length limits. */
function text(
  body: Body,
  key: string,
  limits: { required?: boolean; min?: number; max?: number } = {},
): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (limits.required) throw validation(wireName(key), 'not be null');
    return undefined;
  }
  if (typeof value !== 'string') throw new ServiceError('SerializationException', `${key} must be a string`);
  // Secret values are never echoed back in an error message.
  const shown = key === 'SecretString' || key === 'SecretBinary' ? '***' : value;
  if (limits.min !== undefined && value.length < limits.min)
    throw validation(wireName(key), `have length greater than or equal to ${limits.min}`, shown);
  if (limits.max !== undefined && value.length > limits.max)
    throw validation(wireName(key), `have length less than or equal to ${limits.max}`, shown);
  return value;
}

/** An integer member of the request, checked against the service model's range. */
function integer(body: Body, key: string, range: { min?: number; max?: number } = {}): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new ServiceError('SerializationException', `${key} must be an integer`);
  if (range.min !== undefined && value < range.min)
    throw validation(wireName(key), `have value greater than or equal to ${range.min}`, value);
  if (range.max !== undefined && value > range.max)
    throw validation(wireName(key), `have value less than or equal to ${range.max}`, value);
  return value;
}

function bool(body: Body, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ServiceError('SerializationException', `${key} must be a boolean`);
  return value;
}

const secretId = (body: Body) => text(body, 'SecretId', { required: true, min: 1, max: 2048 })!;
const versionIdParam = (body: Body, key: string) => text(body, key, { min: 32, max: 64 });

/** The secret value of a request: exactly one of SecretString / SecretBinary, neither empty. */
function secretValue(body: Body): { secretString?: string; secretBinary?: string } | undefined {
  const secretString = text(body, 'SecretString', { max: 65_536 });
  const secretBinary = text(body, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined)
    throw invalidRequest("You can't specify both SecretString and SecretBinary.");
  // AWS rejects an empty string as if no value had been given.
  if (secretString === '' || secretBinary === '')
    throw invalidRequest('You must provide either SecretString or SecretBinary.');
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary };
  return undefined;
}

const sameValue = (version: StoredVersion, value: { secretString?: string; secretBinary?: string }) =>
  version.secretString === value.secretString && version.secretBinary === value.secretBinary;
const hasValue = (version: StoredVersion) => version.secretString !== undefined || version.secretBinary !== undefined;

/** Epoch seconds, the awsJson timestamp format. */
const epoch = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso) / 1000);

const randomSuffix = () => [...randomBytes(6)].map((byte) => ALNUM[byte % ALNUM.length]).join('');

/** The next rotation date a schedule gives, counted from the last rotation; undefined for cron() schedules. */
function nextRotation(rules: RotationRules | undefined, from: Date): Date | undefined {
  if (rules?.AutomaticallyAfterDays) return new Date(from.getTime() + rules.AutomaticallyAfterDays * DAY_MS);
  const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(rules?.ScheduleExpression ?? '');
  if (rate) return new Date(from.getTime() + Number(rate[1]) * (rate[2]!.startsWith('hour') ? HOUR_MS : DAY_MS));
  return undefined;
}

function loadState(dataFile: string): StoredState {
  let raw: string;
  try {
    raw = readFileSync(dataFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, secrets: [] };
    throw error;
  }
  try {
    const state = JSON.parse(raw) as StoredState;
    if (state.format !== 1 || !Array.isArray(state.secrets)) throw new Error('unknown format');
    return state;
  } catch (error) {
    throw new LocalStackError(
      'secrets_data_unreadable',
      `${dataFile} is not a local Secrets Manager data file; move it away to start with no secrets`,
      { cause: error },
    );
  }
}

/** Writes the whole state to a temporary file and renames it over the data file, so a crash never leaves half a file. */
function saveState(dataFile: string, state: StoredState): void {
  mkdirSync(dirname(dataFile), { recursive: true });
  const temporary = `${dataFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // The file holds secret values: readable by the owner only.
  writeFileSync(temporary, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(temporary, dataFile);
}

/**
 * A loopback endpoint speaking the Secrets Manager JSON protocol (awsJson1_1) for the subset the
 * project uses — CreateSecret, GetSecretValue, PutSecretValue, DescribeSecret,
 * UpdateSecretVersionStage, ListSecrets, DeleteSecret, RotateSecret — with AWS's staging-label
 * semantics, so the real @aws-sdk/client-secrets-manager runs against it unchanged. RotateSecret
 * invokes the rotation function's four steps asynchronously, as AWS does. State is persisted in
 * `dataFile` after every change. Nothing is logged, so no secret value can leak into a log.
 */
export async function startLocalSecretsManager(options: LocalSecretsManagerOptions): Promise<LocalSecretsManager> {
  const now = options.now ?? (() => new Date());
  const state = loadState(options.dataFile);
  const counts = new Map<string, number>();
  const failures = new Map<string, RotationFailure>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const persist = () => {
    // A rotation finishing after stop() must not rewrite the file a restarted endpoint now owns.
    if (!stopped) saveState(options.dataFile, state);
  };
  const iso = () => now().toISOString();

  /** Secrets whose recovery window has ended are gone, as after AWS's background deletion. */
  const purgeExpired = () => {
    const at = now().getTime();
    const kept = state.secrets.filter((s) => s.deletionDate === undefined || Date.parse(s.deletionDate) > at);
    if (kept.length === state.secrets.length) return;
    state.secrets = kept;
    persist();
  };

  /** A secret by name, full ARN, or partial ARN (the ARN without the six random characters). */
  const lookup = (id: string): StoredSecret | undefined => {
    if (!id.startsWith('arn:')) return state.secrets.find((s) => s.name === id);
    return state.secrets.find((s) => s.arn === id) ?? state.secrets.find((s) => `${ARN_PREFIX}${s.name}` === id);
  };
  const find = (id: string) => {
    const secret = lookup(id);
    if (!secret) throw notFound();
    return secret;
  };
  const findLive = (id: string) => {
    const secret = find(id);
    if (secret.deletedDate !== undefined)
      throw invalidRequest("You can't perform this operation on the secret because it was marked for deletion.");
    return secret;
  };
  const version = (secret: StoredSecret, versionId: string) => secret.versions.find((v) => v.versionId === versionId);
  const withStage = (secret: StoredSecret, stage: string) => secret.versions.find((v) => v.stages.includes(stage));

  /**
   * Attaches a staging label to a version, taking it off the version that had it: a label is on at
   * most one version. Moving AWSCURRENT moves AWSPREVIOUS to the version AWSCURRENT left.
   */
  const attach = (secret: StoredSecret, stage: string, target: StoredVersion) => {
    const holder = withStage(secret, stage);
    if (holder === target) return;
    if (holder) holder.stages = holder.stages.filter((s) => s !== stage);
    target.stages.push(stage);
    if (stage === CURRENT && holder) attach(secret, PREVIOUS, holder);
  };
  const detach = (version: StoredVersion, stage: string) => {
    version.stages = version.stages.filter((s) => s !== stage);
  };

  const versionsToStages = (secret: StoredSecret) =>
    Object.fromEntries(secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.versionId, [...v.stages]]));

  /** The metadata DescribeSecret and ListSecrets share; never a value. */
  const metadata = (secret: StoredSecret) => ({
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description,
    KmsKeyId: secret.kmsKeyId,
    RotationEnabled: secret.rotationEnabled,
    RotationLambdaARN: secret.rotationLambdaArn,
    RotationRules: secret.rotationRules,
    LastRotatedDate: epoch(secret.lastRotatedDate),
    LastChangedDate: epoch(secret.lastChangedDate),
    LastAccessedDate: epoch(secret.lastAccessedDate),
    DeletedDate: epoch(secret.deletedDate),
    NextRotationDate: secret.rotationEnabled ? epoch(secret.nextRotationDate) : undefined,
    Tags: secret.tags,
    CreatedDate: epoch(secret.createdDate),
  });

  const createSecret = (body: Body) => {
    const name = text(body, 'Name', { required: true, min: 1, max: 512 })!;
    // The name's character set is checked by the service, which answers ValidationException.
    if (!NAME_PATTERN.test(name)) {
      throw new ServiceError(
        'ValidationException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    const token = versionIdParam(body, 'ClientRequestToken') ?? randomUUID();
    const description = text(body, 'Description', { max: 2048 });
    const kmsKeyId = text(body, 'KmsKeyId', { max: 2048 });
    const tags = body.Tags as Tag[] | undefined;
    const value = secretValue(body);
    const existing = state.secrets.find((s) => s.name === name);
    if (existing?.deletedDate !== undefined) {
      throw invalidRequest(
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (existing) {
      // A retry with the same token and value is ignored (the token makes CreateSecret idempotent).
      const retried = version(existing, token);
      if (retried && value && sameValue(retried, value)) return { ARN: existing.arn, Name: name, VersionId: token };
      throw new ServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    const at = iso();
    const secret: StoredSecret = {
      name,
      arn: `${ARN_PREFIX}${name}-${randomSuffix()}`,
      description,
      kmsKeyId,
      tags,
      createdDate: at,
      lastChangedDate: at,
      versions: value ? [{ versionId: token, ...value, stages: [CURRENT], createdDate: at }] : [],
    };
    state.secrets.push(secret);
    persist();
    return { ARN: secret.arn, Name: name, VersionId: value ? token : undefined };
  };

  const getSecretValue = (body: Body) => {
    const secret = findLive(secretId(body));
    const versionId = versionIdParam(body, 'VersionId');
    const stage = text(body, 'VersionStage', { min: 1, max: 256 }) ?? (versionId === undefined ? CURRENT : undefined);
    const target = versionId !== undefined ? version(secret, versionId) : withStage(secret, stage!);
    const matches = target !== undefined && (stage === undefined || target.stages.includes(stage));
    // A version RotateSecret created but createSecret has not filled yet has no value to return.
    if (!matches || !hasValue(target)) {
      const what = [
        versionId !== undefined ? `VersionId: ${versionId}` : '',
        stage !== undefined ? `staging label: ${stage}` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      throw notFound(`Secrets Manager can't find the specified secret value for ${what}`);
    }
    // AWS records the access date only, truncated to midnight.
    const today = `${iso().slice(0, 10)}T00:00:00.000Z`;
    if (secret.lastAccessedDate !== today) {
      secret.lastAccessedDate = today;
      persist();
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: target.versionId,
      SecretString: target.secretString,
      SecretBinary: target.secretBinary,
      VersionStages: [...target.stages],
      CreatedDate: epoch(target.createdDate),
    };
  };

  const putSecretValue = (body: Body) => {
    const secret = findLive(secretId(body));
    const token = versionIdParam(body, 'ClientRequestToken') ?? randomUUID();
    const value = secretValue(body);
    if (!value) throw invalidRequest('You must provide either SecretString or SecretBinary.');
    const requested = body.VersionStages as string[] | undefined;
    if (requested !== undefined) {
      if (!Array.isArray(requested) || requested.length < 1 || requested.length > 20)
        throw validation('versionStages', 'have length between 1 and 20');
      for (const stage of requested) {
        if (typeof stage !== 'string' || stage.length < 1 || stage.length > 256)
          throw validation('versionStages', 'have length between 1 and 256', stage);
      }
    }
    const stages = [...new Set(requested ?? [CURRENT])];
    // The first version of a secret is always AWSCURRENT.
    if (!withStage(secret, CURRENT) && !stages.includes(CURRENT)) stages.push(CURRENT);

    let target = version(secret, token);
    if (target && hasValue(target)) {
      // Same token, same value: the request is ignored. A different value would modify a version.
      if (sameValue(target, value))
        return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...target.stages] };
      throw new ServiceError(
        'ResourceExistsException',
        `You can't modify an existing version, you can only create a new version. A version with ClientRequestToken ${token} already exists with a different value.`,
      );
    }
    if (target) {
      // The placeholder RotateSecret created for this token: createSecret fills it.
      Object.assign(target, value);
    } else {
      target = { versionId: token, ...value, stages: [], createdDate: iso() };
      secret.versions.push(target);
    }
    for (const stage of stages) attach(secret, stage, target);
    secret.lastChangedDate = iso();
    persist();
    return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...target.stages] };
  };

  const describeSecret = (body: Body) => {
    const secret = find(secretId(body));
    return { ...metadata(secret), VersionIdsToStages: versionsToStages(secret) };
  };

  const updateSecretVersionStage = (body: Body) => {
    const secret = findLive(secretId(body));
    const stage = text(body, 'VersionStage', { required: true, min: 1, max: 256 })!;
    const moveToId = versionIdParam(body, 'MoveToVersionId');
    const removeFromId = versionIdParam(body, 'RemoveFromVersionId');
    if (moveToId === undefined && removeFromId === undefined)
      throw invalidParameter('You must specify MoveToVersionId, RemoveFromVersionId, or both.');
    const moveTo = moveToId === undefined ? undefined : version(secret, moveToId);
    const removeFrom = removeFromId === undefined ? undefined : version(secret, removeFromId);
    if (moveToId !== undefined && !moveTo) throw invalidParameter(`Not a valid version: ${moveToId}`);
    if (removeFromId !== undefined && !removeFrom) throw invalidParameter(`Not a valid version: ${removeFromId}`);
    const holder = withStage(secret, stage);
    // The label is on another version: the caller must name that version in RemoveFromVersionId.
    if (holder && holder !== moveTo && holder !== removeFrom) {
      throw invalidParameter(
        `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (removeFrom && !removeFrom.stages.includes(stage))
      throw invalidParameter(`Version ${removeFrom.versionId} does not have the staging label ${stage}.`);
    if (stage === CURRENT && !moveTo)
      throw invalidParameter(
        'You can only move staging label AWSCURRENT to a different secret version. It can’t be completely removed.',
      );
    if (moveTo) attach(secret, stage, moveTo);
    else detach(removeFrom!, stage);
    secret.lastChangedDate = iso();
    persist();
    return { ARN: secret.arn, Name: secret.name };
  };

  const listSecrets = (body: Body) => {
    const maxResults = integer(body, 'MaxResults', { min: 1, max: 100 }) ?? 100;
    const nextToken = text(body, 'NextToken', { min: 1, max: 4096 });
    if (body.Filters !== undefined)
      throw invalidParameter('Filters are not supported by the local Secrets Manager endpoint.');
    const sortOrder = text(body, 'SortOrder') ?? 'asc';
    const includePlannedDeletion = bool(body, 'IncludePlannedDeletion') === true;
    let offset = 0;
    if (nextToken !== undefined) {
      try {
        offset = (JSON.parse(Buffer.from(nextToken, 'base64url').toString('utf8')) as { offset: number }).offset;
        if (!Number.isInteger(offset) || offset < 0) throw new Error('negative');
      } catch {
        throw new ServiceError('InvalidNextTokenException', 'The NextToken value is invalid.');
      }
    }
    // Listed by creation date (the documented default order); scheduled deletions only on request.
    const listed = state.secrets
      .filter((s) => s.deletedDate === undefined || includePlannedDeletion)
      .sort((a, b) => Date.parse(a.createdDate) - Date.parse(b.createdDate));
    if (sortOrder === 'desc') listed.reverse();
    const page = listed.slice(offset, offset + maxResults);
    const more = offset + maxResults < listed.length;
    return {
      SecretList: page.map((s) => ({ ...metadata(s), SecretVersionsToStages: versionsToStages(s) })),
      NextToken: more ? Buffer.from(JSON.stringify({ offset: offset + maxResults })).toString('base64url') : undefined,
    };
  };

  const deleteSecret = (body: Body) => {
    const id = secretId(body);
    const window = integer(body, 'RecoveryWindowInDays');
    const force = bool(body, 'ForceDeleteWithoutRecovery') === true;
    if (force && window !== undefined)
      throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    if (window !== undefined && (window < 7 || window > 30))
      throw invalidParameter('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    const secret = lookup(id);
    if (force) {
      // Forcing the deletion of a deleted or missing secret is not an error.
      if (secret) state.secrets = state.secrets.filter((s) => s !== secret);
      persist();
      return {
        ARN: secret?.arn,
        Name: secret?.name ?? (id.startsWith('arn:') ? undefined : id),
        DeletionDate: epoch(iso()),
      };
    }
    if (!secret) throw notFound();
    if (secret.deletedDate !== undefined)
      throw invalidRequest(
        "You can't perform this operation on the secret because it was already scheduled for deletion.",
      );
    const at = now();
    secret.deletedDate = at.toISOString();
    secret.deletionDate = new Date(at.getTime() + (window ?? 30) * DAY_MS).toISOString();
    secret.lastChangedDate = secret.deletedDate;
    persist();
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epoch(secret.deletionDate) };
  };

  /** Records a failed rotation step, as the rotation function's logs would show it on AWS. */
  const fail = (secret: StoredSecret, step: RotationStep, versionId: string, errorType: string, message: string) => {
    failures.set(secret.name, { step, versionId, errorType, message, at: now() });
  };

  /** Runs the rotation function's steps for one version, after RotateSecret has answered. */
  const rotate = async (arn: string, token: string, fn: RotationFunction, steps: readonly RotationStep[]) => {
    const rotationToken = randomUUID();
    for (const step of steps) {
      try {
        // Lambda hands the function a JSON round-tripped event; so does this.
        const event = JSON.parse(
          JSON.stringify({ Step: step, SecretId: arn, ClientRequestToken: token, RotationToken: rotationToken }),
        ) as RotationEvent;
        await fn(event);
      } catch (error) {
        const secret = state.secrets.find((s) => s.arn === arn);
        const err = error instanceof Error ? error : new Error(String(error));
        // A failed step ends the rotation where it is: AWSPENDING stays for a later retry or clean-up.
        if (secret) fail(secret, step, token, err.name || 'Error', err.message);
        return false;
      }
    }
    return true;
  };

  /** Rotations running now, as `<arn>|<token>`. */
  const active = new Set<string>();
  /** Runs a rotation (all four steps, or testSecret alone) in the background, after RotateSecret has answered. */
  const launch = (arn: string, token: string, fn: RotationFunction, immediately: boolean) => {
    // One run per version at a time: a RotateSecret arriving while that rotation still runs does
    // not start a second, racing one.
    const key = `${arn}|${token}`;
    if (active.has(key)) return;
    active.add(key);
    const run = (async () => {
      // As on AWS, the rotation starts after RotateSecret has answered.
      await new Promise((resolve) => setImmediate(resolve));
      if (!immediately) {
        // Documented: without an immediate rotation, testSecret alone runs against an AWSPENDING version that is removed afterwards.
        await rotate(arn, token, fn, ['testSecret']);
        const current = state.secrets.find((s) => s.arn === arn);
        const probe = current && version(current, token);
        if (current && probe && !probe.stages.includes(CURRENT)) {
          current.versions = current.versions.filter((v) => v !== probe);
          persist();
        }
        return;
      }
      if (!(await rotate(arn, token, fn, ROTATION_STEPS))) return;
      const current = state.secrets.find((s) => s.arn === arn);
      if (!current) return;
      if (!version(current, token)?.stages.includes(CURRENT)) {
        fail(
          current,
          'finishSecret',
          token,
          'RotationIncomplete',
          `the rotation function returned from finishSecret without moving AWSCURRENT to version ${token}`,
        );
        return;
      }
      const at = now();
      current.lastRotatedDate = at.toISOString();
      current.nextRotationDate = nextRotation(current.rotationRules, at)?.toISOString();
      current.lastChangedDate = at.toISOString();
      failures.delete(current.name);
      persist();
    })().catch((error: unknown) => {
      // Only a fault of this endpoint (say, an unwritable data file) lands here; the server keeps running.
      const current = state.secrets.find((s) => s.arn === arn);
      if (current)
        fail(
          current,
          'finishSecret',
          token,
          'InternalServiceError',
          error instanceof Error ? error.message : String(error),
        );
    });
    running.add(run);
    void run.finally(() => {
      running.delete(run);
      active.delete(key);
    });
  };

  const rotateSecret = (body: Body) => {
    const secret = findLive(secretId(body));
    const token = versionIdParam(body, 'ClientRequestToken') ?? randomUUID();
    const lambdaArn = text(body, 'RotationLambdaARN', { max: 2048 }) ?? secret.rotationLambdaArn;
    const rules = body.RotationRules as RotationRules | undefined;
    const immediately = bool(body, 'RotateImmediately') ?? true;
    if (rules !== undefined) {
      integer(rules as Body, 'AutomaticallyAfterDays', { min: 1, max: 1000 });
      if (rules.AutomaticallyAfterDays !== undefined && rules.ScheduleExpression !== undefined) {
        throw invalidParameter(
          'You can specify AutomaticallyAfterDays or ScheduleExpression in RotationRules, but not both.',
        );
      }
      const expression = rules.ScheduleExpression;
      if (expression !== undefined && !/^(rate|cron)\(.+\)$/.test(expression))
        throw invalidParameter(`Invalid ScheduleExpression: ${expression}`);
      const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(expression ?? '');
      if (expression?.startsWith('rate(') && (!rate || (rate[2]!.startsWith('hour') && Number(rate[1]) < 4))) {
        throw invalidParameter('A rate() schedule must be in hours (at least 4) or days.');
      }
    }
    if (!lambdaArn) throw invalidRequest('No Lambda rotation function ARN is associated with this secret.');
    const fn = options.rotationFunction?.(lambdaArn);
    if (!fn) {
      throw new ServiceError(
        'AccessDeniedException',
        'Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.',
      );
    }
    // The function and rules are the secret's rotation configuration from now on, also when the
    // call goes on to reattempt a pending rotation (which needs rotation enabled to pass its guard).
    secret.rotationEnabled = true;
    secret.rotationLambdaArn = lambdaArn;
    if (rules !== undefined) secret.rotationRules = { ...rules };
    secret.nextRotationDate = nextRotation(
      secret.rotationRules,
      secret.lastRotatedDate ? new Date(secret.lastRotatedDate) : now(),
    )?.toISOString();
    secret.lastChangedDate = iso();
    persist();
    // Documented: AWSPENDING on a version other than AWSCURRENT's means a rotation is still in progress.
    const pending = withStage(secret, PENDING);
    if (pending && !pending.stages.includes(CURRENT)) {
      // "That rotation will be reattempted": as on AWS, the function runs again for the pending
      // version's token, so idempotent steps finish it (or fail again, leaving it pending).
      launch(secret.arn, pending.versionId, fn, true);
      throw invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.");
    }
    const retried = version(secret, token);
    if (retried) {
      // The token names a version that exists already: a retried request, which must not rotate twice.
      return { ARN: secret.arn, Name: secret.name, VersionId: token };
    }

    // The new version exists, with AWSPENDING and no value, before the function runs: createSecret fills it.
    const placeholder: StoredVersion = { versionId: token, stages: [], createdDate: iso() };
    secret.versions.push(placeholder);
    attach(secret, PENDING, placeholder);
    persist();

    launch(secret.arn, token, fn, immediately);

    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  };

  const operations: Record<string, (body: Body) => unknown> = {
    CreateSecret: createSecret,
    GetSecretValue: getSecretValue,
    PutSecretValue: putSecretValue,
    DescribeSecret: describeSecret,
    UpdateSecretVersionStage: updateSecretVersionStage,
    ListSecrets: listSecrets,
    DeleteSecret: deleteSecret,
    RotateSecret: rotateSecret,
  };

  const count = (operation: string, secretName: string | undefined) => {
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    if (secretName !== undefined)
      counts.set(`${operation}\u0000${secretName}`, (counts.get(`${operation}\u0000${secretName}`) ?? 0) + 1);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomUUID(),
          ...headers,
        });
        res.end(JSON.stringify(payload));
      };
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '');
      try {
        let body: Body;
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
          body = parsed as Body;
        } catch {
          throw new ServiceError('SerializationException', 'The request body is not a JSON object.');
        }
        const handler = req.method === 'POST' ? operations[operation] : undefined;
        const id = operation === 'CreateSecret' ? body.Name : body.SecretId;
        count(operation, typeof id === 'string' ? (lookup(id)?.name ?? id) : undefined);
        if (!handler)
          throw new ServiceError(
            'UnknownOperationException',
            `The operation ${operation || '(none)'} is not supported by the local Secrets Manager endpoint.`,
          );
        purgeExpired();
        reply(200, handler(body));
      } catch (error) {
        // Anything else is a fault of this endpoint; its message never carries the request, so never a secret.
        const failure =
          error instanceof ServiceError
            ? error
            : new ServiceError('InternalServiceError', 'An error occurred on the server side.', 500);
        reply(failure.status, { __type: failure.type, message: failure.message }, { 'x-amzn-errortype': failure.type });
      }
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: (operation, secretName) =>
      counts.get(secretName === undefined ? operation : `${operation}\u0000${secretName}`) ?? 0,
    rotations: async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    lastRotationError: (secretName) => failures.get(secretName),
    stop: async () => {
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
