/** A secret value and the Secrets Manager version it came from. */
export interface SecretVersion {
  value: string;
  versionId: string;
}

/** Where secret values come from: Secrets Manager's AWSCURRENT version of a secret. */
export interface SecretSource {
  /** The AWSCURRENT version of `secretId` (a name or an ARN). Throws SecretError('secret_not_found') when it has none. */
  current(secretId: string): Promise<SecretVersion>;
  /** The AWSPREVIOUS version, or undefined when there is none (never rotated). */
  previous(secretId: string): Promise<SecretVersion | undefined>;
}

/** Why the resolver went to Secrets Manager instead of its cache. */
export type RevealReason = 'cold' | 'expired' | 'refresh' | 'auth-retry' | 'previous';

/** Who is asking for a secret: the agent, and the turn it runs when there is one. */
export interface SecretRequester {
  agent: string;
  tenant?: string;
  sessionKey?: string;
  turnId?: string;
}

/** Per-secret figures kept in the table (never the value). */
export interface SecretStats {
  /** Every resolve, cache hits included. */
  accesses: number;
  /** Fetches from Secrets Manager. */
  reveals: number;
  /** Requests refused because the agent's config does not list the secret. */
  denials: number;
  /** Bumped by `refresh`: every process drops its cached copy when it sees a newer epoch. */
  epoch: number;
  lastRevealAt?: string;
  lastRevealVersionId?: string;
  exposures: number;
  lastRotatedAt?: string;
  lastRotatedVersionId?: string;
  /** The last failed rotation step, until a rotation succeeds. */
  lastRotationFailure?: { at: string; step: string; versionId: string; error: string };
}

/**
 * The shared, per-secret state in the table: the cache epoch, the access counts and the audit
 * of reveals and denials.
 */
export interface SecretLedger {
  /** Counts one access and returns the secret's current cache epoch (one conditional-free update). */
  recordAccess(name: string): Promise<{ epoch: number }>;
  /** Audits a fetch from Secrets Manager (`secret_reveal`) and counts it. */
  recordReveal(
    name: string,
    requester: SecretRequester,
    details: { versionId: string; reason: RevealReason; at: string },
  ): Promise<void>;
  /** Audits a refused request (`secret_denied`) in the agent's chain and counts it. */
  recordDenial(name: string, requester: SecretRequester, at: string): Promise<void>;
  /** Counts redaction hits of a secret (each one an exposure-risk event). */
  recordExposures(name: string, count: number): Promise<void>;
  /** Bumps the cache epoch so every process refetches on its next access; returns the new epoch. */
  bumpEpoch(name: string, actor: string, at: string): Promise<number>;
  stats(names: string[]): Promise<Map<string, SecretStats>>;
}

/** What Secrets Manager says about a secret: metadata and rotation status, never a value. */
export interface SecretMetadata {
  arn: string;
  /** Version ids by staging label (AWSCURRENT, AWSPENDING, AWSPREVIOUS). */
  versions: Record<string, string[]>;
  rotationEnabled: boolean;
  lastRotatedDate?: string;
  nextRotationDate?: string;
  lastChangedDate?: string;
  lastAccessedDate?: string;
  deletedDate?: string;
}

/** A secret's rotation configuration as RotateSecret takes it. */
export interface RotationSettings {
  functionArn: string;
  /** rate(...) or cron(...) */
  schedule: string;
  /** The window's length, e.g. "3h". */
  window?: string;
}

/** The control side of Secrets Manager used by operators: describe and rotate. */
export interface SecretControl {
  /** The secret's metadata, or undefined when Secrets Manager has no such secret. */
  describe(secretId: string): Promise<SecretMetadata | undefined>;
  /**
   * Starts a rotation now with the given rotation function and schedule (when given: they become
   * the secret's rotation configuration). Resolves with the version being rotated in; `reattempted`
   * when a previous rotation was still pending and Secrets Manager runs it again instead.
   */
  rotate(secretId: string, options?: RotationSettings): Promise<{ versionId: string; reattempted: boolean }>;
}
