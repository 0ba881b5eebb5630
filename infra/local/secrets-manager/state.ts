import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LocalStackError } from '../errors.js';
import { invalidRequest, notFound } from './service-error.js';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
/** Every secret's ARN starts so; six random characters follow the name. */
export const ARN_PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;
export const CURRENT = 'AWSCURRENT';
export const PREVIOUS = 'AWSPREVIOUS';
export const PENDING = 'AWSPENDING';
export const DAY_MS = 86_400_000;

/** A tag of a secret, stored as given. */
export interface Tag {
  Key?: string;
  Value?: string;
}

/** A secret's rotation schedule, as RotateSecret takes it. */
export interface RotationRules {
  AutomaticallyAfterDays?: number;
  Duration?: string;
  ScheduleExpression?: string;
}

/** One version of a secret and the staging labels on it. */
export interface StoredVersion {
  versionId: string;
  /** Absent while the version is a placeholder RotateSecret created and createSecret has not filled. */
  secretString?: string;
  /** Base64, as on the wire. */
  secretBinary?: string;
  stages: string[];
  createdDate: string;
}

/** One secret: its metadata, rotation configuration and versions. */
export interface StoredSecret {
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

/** The stored secrets of the local endpoint, loaded from and persisted to its data file. */
export class SecretState {
  private readonly stored: StoredState;
  private stopped = false;

  constructor(
    private readonly dataFile: string,
    /** The clock (dates, recovery windows, rotation schedule). */
    readonly now: () => Date,
  ) {
    this.stored = loadState(dataFile);
  }

  /** Every secret, scheduled deletions included. */
  get secrets(): StoredSecret[] {
    return this.stored.secrets;
  }

  set secrets(secrets: StoredSecret[]) {
    this.stored.secrets = secrets;
  }

  /** Now, as stored dates are written. */
  iso(): string {
    return this.now().toISOString();
  }

  /** Writes the state to the data file, unless the endpoint has stopped. */
  persist(): void {
    // A rotation finishing after stop() must not rewrite the file a restarted endpoint now owns.
    if (!this.stopped) saveState(this.dataFile, this.stored);
  }

  /** No write reaches the data file from now on. */
  stop(): void {
    this.stopped = true;
  }

  /** Secrets whose recovery window has ended are gone, as after AWS's background deletion. */
  purgeExpired(): void {
    const at = this.now().getTime();
    const kept = this.secrets.filter((s) => s.deletionDate === undefined || Date.parse(s.deletionDate) > at);
    if (kept.length === this.secrets.length) return;
    this.secrets = kept;
    this.persist();
  }

  /** A secret by name, full ARN, or partial ARN (the ARN without the six random characters). */
  lookup(id: string): StoredSecret | undefined {
    if (!id.startsWith('arn:')) return this.secrets.find((s) => s.name === id);
    return this.secrets.find((s) => s.arn === id) ?? this.secrets.find((s) => `${ARN_PREFIX}${s.name}` === id);
  }

  /** A secret by its full ARN, as a rotation refers to it. */
  byArn(arn: string): StoredSecret | undefined {
    return this.secrets.find((s) => s.arn === arn);
  }

  /** A secret, also one scheduled for deletion; ResourceNotFoundException if there is none. */
  find(id: string): StoredSecret {
    const secret = this.lookup(id);
    if (!secret) throw notFound();
    return secret;
  }

  /** A secret not scheduled for deletion; InvalidRequestException if it is. */
  findLive(id: string): StoredSecret {
    const secret = this.find(id);
    if (secret.deletedDate !== undefined)
      throw invalidRequest("You can't perform this operation on the secret because it was marked for deletion.");
    return secret;
  }
}

/** A secret's version by id. */
export const version = (secret: StoredSecret, versionId: string) =>
  secret.versions.find((v) => v.versionId === versionId);
/** The version holding a staging label. */
export const withStage = (secret: StoredSecret, stage: string) => secret.versions.find((v) => v.stages.includes(stage));

/**
 * Attaches a staging label to a version, taking it off the version that had it: a label is on at
 * most one version. Moving AWSCURRENT moves AWSPREVIOUS to the version AWSCURRENT left.
 */
export function attach(secret: StoredSecret, stage: string, target: StoredVersion): void {
  const holder = withStage(secret, stage);
  if (holder === target) return;
  if (holder) holder.stages = holder.stages.filter((s) => s !== stage);
  target.stages.push(stage);
  if (stage === CURRENT && holder) attach(secret, PREVIOUS, holder);
}

/** Takes a staging label off a version. */
export function detach(version: StoredVersion, stage: string): void {
  version.stages = version.stages.filter((s) => s !== stage);
}
