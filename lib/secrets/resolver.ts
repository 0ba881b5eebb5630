import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import { SecretError } from './errors.js';
import type { RevealReason, SecretLedger, SecretRequester, SecretSource, SecretVersion } from './ports.js';
import { processRedactor, type Redactor } from './redactor.js';
import { isPlaceholder, secretId } from './reference.js';

/** How long a secret that does not exist (yet) is remembered as missing, so every turn does not ask again. */
export const MISSING_SECRET_RETRY_MS = 30_000;

interface Cached {
  version: SecretVersion;
  fetchedAt: number;
  /** The table's cache epoch when the fetch started: a newer epoch means `refresh` was called since. */
  epoch: number;
}

/** A resolved secret: its value, for in-process use only, and the version it is. */
export interface ResolvedSecret extends SecretVersion {
  name: string;
}

/** One request for a secret's value, as the resolver's `onAccess` hook reports it (names only, never a value). */
export interface SecretAccess {
  secret: string;
  agent: string;
  /** served: the value was handed out (cached or fetched); denied: the agent's config does not list it. */
  outcome: 'served' | 'denied';
}

/** Options of one resolve. */
export interface ResolveOptions {
  /** The version a provider just refused (401/403): refetch once unless the cache already moved past it. */
  rejectedVersion?: string;
}

/**
 * Resolves the secrets an agent's config lists, from Secrets Manager, at run time. One instance
 * per process: it caches each value for the secret's `cacheDuration`, makes one fetch for any
 * number of concurrent cold requests, drops its copy when the table's cache epoch moves
 * (`refresh`), refetches once when a provider refuses a key, and audits every fetch. An agent asking
 * for a secret its config does not list is refused and audited.
 */
export class SecretResolver {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Cached>>();
  private readonly missing = new Map<string, number>();
  /** AWSPREVIOUS of generated secrets, by the AWSCURRENT version it was read beside. */
  private readonly previous = new Map<string, { forCurrent: string; version: SecretVersion | undefined }>();
  private readonly now: () => number;

  constructor(
    private readonly config: Config,
    private readonly source: SecretSource,
    private readonly ledger: SecretLedger,
    options: { redactor?: Redactor; now?: () => number; onAccess?: (access: SecretAccess) => void } = {},
  ) {
    this.redactor = options.redactor ?? processRedactor;
    this.now = options.now ?? Date.now;
    this.onAccess = options.onAccess;
  }

  private readonly redactor: Redactor;
  /** Told of every access (the functions count them as metrics); it can never fail a resolve. */
  private readonly onAccess: ((access: SecretAccess) => void) | undefined;

  /** The value of secret `name` for `requester.agent`, if that agent's config lists it. */
  async resolve(name: string, requester: SecretRequester, options: ResolveOptions = {}): Promise<ResolvedSecret> {
    const secret = this.config.secrets[name];
    const agent = this.config.agents[requester.agent];
    if (!secret || !agent?.secrets.includes(name)) {
      // Least privilege in code: refuse and audit before touching the cache or Secrets Manager.
      this.report({ secret: name, agent: requester.agent, outcome: 'denied' });
      await this.ledger.recordDenial(name, requester, new Date(this.now()).toISOString());
      throw new SecretError(
        'secret_denied',
        `agent "${requester.agent}" may not read secret "${name}" (not in its config's secrets)`,
        { agent: requester.agent, secret: name },
      );
    }
    // The access count and the epoch are bookkeeping: when the table cannot take them, the cached
    // copy is still served (with its own epoch) rather than failing the turn.
    const epoch = await this.ledger.recordAccess(name).then(
      (state) => state.epoch,
      () => this.cache.get(name)?.epoch ?? 0,
    );
    // Read after the await: a concurrent caller may have refreshed the cache meanwhile.
    const cached = this.cache.get(name);
    const reason = this.staleness(name, cached, epoch, options);
    const version = reason
      ? (await this.fetchOnce(name, secretId(secret.source), secret.jsonKey, epoch, reason, requester)).version
      : cached!.version;
    this.report({ secret: name, agent: requester.agent, outcome: 'served' });
    return { name, ...version };
  }

  private report(access: SecretAccess): void {
    try {
      this.onAccess?.(access);
    } catch {
      // Bookkeeping only: a failing observer never costs a turn its secret.
    }
  }

  /**
   * Checks something made with a `generated` secret (a signature, a MAC) without downtime across a
   * rotation: `check` is tried with AWSCURRENT, then AWSPREVIOUS (a sender that still holds the
   * previous value during the window), and, when neither passes, once more after one refetch (this
   * process may hold a value the sender has already replaced).
   */
  async verify(name: string, requester: SecretRequester, check: (value: string) => boolean): Promise<boolean> {
    const current = await this.resolve(name, requester);
    if (
      check(current.value) ||
      (await this.previousOf(name, current, requester).then(
        (previous) => previous !== undefined && check(previous.value),
      ))
    )
      return true;
    const renewed = await this.resolve(name, requester, { rejectedVersion: current.versionId });
    if (renewed.versionId === current.versionId) return false;
    return (
      check(renewed.value) ||
      (await this.previousOf(name, renewed, requester).then(
        (previous) => previous !== undefined && check(previous.value),
      ))
    );
  }

  /** The AWSPREVIOUS value of a `generated` secret, as it stood when `current` was fetched (cached with it). */
  private async previousOf(
    name: string,
    current: ResolvedSecret,
    requester: SecretRequester,
  ): Promise<SecretVersion | undefined> {
    const secret = this.config.secrets[name]!;
    // Only values the system owns: a provider key's previous version is a revoked key.
    if (secret.rotation?.strategy !== 'generated') return undefined;
    const cached = this.previous.get(name);
    if (cached?.forCurrent === current.versionId) return cached.version;
    const fetched = await this.source.previous(secretId(secret.source));
    const version =
      fetched && secret.jsonKey !== undefined
        ? { ...fetched, value: jsonField(name, fetched.value, secret.jsonKey) }
        : fetched;
    if (fetched && version) {
      this.redactor.register(name, fetched.value);
      this.redactor.register(name, version.value);
      await this.ledger.recordReveal(name, requester, {
        versionId: version.versionId,
        reason: 'previous',
        at: new Date(this.now()).toISOString(),
      });
    }
    this.previous.set(name, { forCurrent: current.versionId, version });
    return version;
  }

  /**
   * The variables of the agent's secrets that declare an `envVar`, for in-process tools only:
   * never written to process.env, so no child process or crash dump inherits them.
   */
  async environment(requester: SecretRequester): Promise<Record<string, string>> {
    const names = (this.config.agents[requester.agent]?.secrets ?? []).filter(
      (name) => this.config.secrets[name]?.envVar,
    );
    const values = await Promise.all(names.map((name) => this.resolve(name, requester)));
    return Object.fromEntries(values.map((v) => [this.config.secrets[v.name]!.envVar!, v.value]));
  }

  /** Why the cached copy cannot be served, or undefined when it can. */
  private staleness(
    name: string,
    cached: Cached | undefined,
    epoch: number,
    options: ResolveOptions,
  ): RevealReason | undefined {
    if (!cached) return 'cold';
    if (epoch > cached.epoch) return 'refresh';
    // Refetch on a refused key only if the cache still holds that version: when a concurrent turn
    // already replaced it, the new version is served and Secrets Manager is not asked again.
    if (options.rejectedVersion !== undefined && options.rejectedVersion === cached.version.versionId)
      return 'auth-retry';
    if (this.now() - cached.fetchedAt >= durationMs(this.config.secrets[name]!.cacheDuration)) return 'expired';
    return undefined;
  }

  /** One fetch per secret at a time: concurrent callers share the one in flight. */
  private fetchOnce(
    name: string,
    id: string,
    jsonKey: string | undefined,
    epoch: number,
    reason: RevealReason,
    requester: SecretRequester,
  ): Promise<Cached> {
    const running = this.inflight.get(name);
    if (running) return running;
    const fetch = (async () => {
      const missingUntil = this.missing.get(name);
      if (missingUntil !== undefined && this.now() < missingUntil && reason === 'cold') throw notFound(name);
      let version: SecretVersion;
      try {
        version = await this.source.current(id);
      } catch (error) {
        if (!(error instanceof SecretError && error.code === 'secret_not_found')) throw error;
        this.missing.set(name, this.now() + MISSING_SECRET_RETRY_MS);
        throw notFound(name, error);
      }
      // Known before anything else can see it: the whole string and, for JSON, every string field.
      this.redactor.register(name, version.value);
      for (const field of jsonStrings(version.value)) this.redactor.register(name, field);
      if (isPlaceholder(version.value)) {
        // Created by CloudFormation with a placeholder; the operator has not set the value yet.
        this.missing.set(name, this.now() + MISSING_SECRET_RETRY_MS);
        throw notFound(name);
      }
      this.missing.delete(name);
      const value = jsonKey === undefined ? version.value : jsonField(name, version.value, jsonKey);
      const fresh: Cached = { version: { value, versionId: version.versionId }, fetchedAt: this.now(), epoch };
      await this.ledger.recordReveal(name, requester, {
        versionId: version.versionId,
        reason,
        at: new Date(fresh.fetchedAt).toISOString(),
      });
      this.cache.set(name, fresh);
      return fresh;
    })();
    this.inflight.set(name, fetch);
    const clear = () => {
      if (this.inflight.get(name) === fetch) this.inflight.delete(name);
    };
    fetch.then(clear, clear);
    return fetch;
  }
}

/** The string values of a JSON object secret (none for a plain string). */
function jsonStrings(text: string): string[] {
  if (!text.startsWith('{')) return [];
  try {
    return Object.values(JSON.parse(text) as Record<string, unknown>).filter((v): v is string => typeof v === 'string');
  } catch {
    return [];
  }
}

function notFound(name: string, cause?: unknown): SecretError {
  return new SecretError(
    'secret_not_found',
    `secret "${name}" has no current value in Secrets Manager (set it with "threadbound secrets create ${name}")`,
    { secret: name },
    { cause },
  );
}

/** The field `key` of a JSON secret string (e.g. `{"apiKey": "…"}`). */
function jsonField(name: string, text: string, key: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parse error would quote the text: say only what is wrong.
    throw new SecretError('secret_unavailable', `secret "${name}" is not JSON, but its config names jsonKey "${key}"`, {
      secret: name,
    });
  }
  const field = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[key] : undefined;
  if (typeof field !== 'string')
    throw new SecretError('secret_unavailable', `secret "${name}" has no string field "${key}"`, { secret: name });
  return field;
}
