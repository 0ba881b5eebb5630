import { randomBytes, randomUUID } from 'node:crypto';
import { type Body, bool, integer, secretId, secretValue, text, versionIdParam } from './request.js';
import { invalidParameter, invalidRequest, notFound, ServiceError, validation } from './service-error.js';
import {
  ARN_PREFIX,
  attach,
  CURRENT,
  DAY_MS,
  detach,
  type SecretState,
  type StoredSecret,
  type StoredVersion,
  type Tag,
  version,
  withStage,
} from './state.js';

/** The character set the CreateSecret reference allows in a name. */
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]+$/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const sameValue = (version: StoredVersion, value: { secretString?: string; secretBinary?: string }) =>
  version.secretString === value.secretString && version.secretBinary === value.secretBinary;
const hasValue = (version: StoredVersion) => version.secretString !== undefined || version.secretBinary !== undefined;

/** Epoch seconds, the awsJson timestamp format. */
const epoch = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso) / 1000);

const randomSuffix = () => [...randomBytes(6)].map((byte) => ALNUM[byte % ALNUM.length]).join('');

/** The staging labels of every labelled version, by version id (versions without a label are left out). */
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

/** CreateSecret: a new secret, with a first AWSCURRENT version when a value is given. */
export function createSecret(state: SecretState, body: Body) {
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
  const at = state.iso();
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
  state.persist();
  return { ARN: secret.arn, Name: name, VersionId: value ? token : undefined };
}

/** GetSecretValue: the value of a version, by id or staging label (AWSCURRENT by default). */
export function getSecretValue(state: SecretState, body: Body) {
  const secret = state.findLive(secretId(body));
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
  const today = `${state.iso().slice(0, 10)}T00:00:00.000Z`;
  if (secret.lastAccessedDate !== today) {
    secret.lastAccessedDate = today;
    state.persist();
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
}

/** PutSecretValue: a new version, labelled AWSCURRENT unless other stages are given. */
export function putSecretValue(state: SecretState, body: Body) {
  const secret = state.findLive(secretId(body));
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
    target = { versionId: token, ...value, stages: [], createdDate: state.iso() };
    secret.versions.push(target);
  }
  for (const stage of stages) attach(secret, stage, target);
  secret.lastChangedDate = state.iso();
  state.persist();
  return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...target.stages] };
}

/** DescribeSecret: the metadata and versions of a secret, also one scheduled for deletion. */
export function describeSecret(state: SecretState, body: Body) {
  const secret = state.find(secretId(body));
  return { ...metadata(secret), VersionIdsToStages: versionsToStages(secret) };
}

/** UpdateSecretVersionStage: moves a staging label to a version, or takes it off one. */
export function updateSecretVersionStage(state: SecretState, body: Body) {
  const secret = state.findLive(secretId(body));
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
  secret.lastChangedDate = state.iso();
  state.persist();
  return { ARN: secret.arn, Name: secret.name };
}

/** ListSecrets: the metadata of every secret, a page at a time. */
export function listSecrets(state: SecretState, body: Body) {
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
}

/** DeleteSecret: schedules a deletion after a recovery window, or forces it now. */
export function deleteSecret(state: SecretState, body: Body) {
  const id = secretId(body);
  const window = integer(body, 'RecoveryWindowInDays');
  const force = bool(body, 'ForceDeleteWithoutRecovery') === true;
  if (force && window !== undefined)
    throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  if (window !== undefined && (window < 7 || window > 30))
    throw invalidParameter('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
  const secret = state.lookup(id);
  if (force) {
    // Forcing the deletion of a deleted or missing secret is not an error.
    if (secret) state.secrets = state.secrets.filter((s) => s !== secret);
    state.persist();
    return {
      ARN: secret?.arn,
      Name: secret?.name ?? (id.startsWith('arn:') ? undefined : id),
      DeletionDate: epoch(state.iso()),
    };
  }
  if (!secret) throw notFound();
  if (secret.deletedDate !== undefined)
    throw invalidRequest(
      "You can't perform this operation on the secret because it was already scheduled for deletion.",
    );
  const at = state.now();
  secret.deletedDate = at.toISOString();
  secret.deletionDate = new Date(at.getTime() + (window ?? 30) * DAY_MS).toISOString();
  secret.lastChangedDate = secret.deletedDate;
  state.persist();
  return { ARN: secret.arn, Name: secret.name, DeletionDate: epoch(secret.deletionDate) };
}
