/**
 * A circuit breaker per model provider, its state shared by every Lambda instance through one
 * item of the table.
 *
 * Stored states are `closed` and `open`; `half-open` is derived: open with its cool-down over.
 *
 *   closed --(failures reach the threshold, or one failure with Retry-After)--> open (openUntil)
 *   open, now < openUntil                 : skipped; a plain failure changes nothing, a Retry-After
 *                                           further away moves openUntil later (never earlier)
 *   open, now >= openUntil (half-open)    : one caller across all instances takes the probe lease
 *                                           (probeUntil); the others skip until its outcome or
 *                                           until the lease expires (a crashed prober)
 *   half-open --(a success)--> closed, failures 0
 *   half-open --(a failure)--> open again for max(cooldownMs, retryAfterMs)
 *
 * Every transition is one conditional write whose condition is checked against the stored state
 * (not against what this instance last read), so a stale cache can cost a refused write but never a
 * wrong transition. The conditions, and the race each closes, are in the store's documentation.
 */

/** The stored state of one provider's circuit. Times are epoch milliseconds. */
export interface CircuitRecord {
  provider: string;
  state: 'closed' | 'open';
  /** Failures since the last success that closed the circuit or reset the count. */
  failures: number;
  /** While open: calls are skipped until then; from then on the circuit is half-open. */
  openUntil?: number;
  /** While half-open: the probe lease of the one caller trying the provider. */
  probeUntil?: number;
  lastFailureAt?: number;
  lastError?: string;
  /** How often the circuit opened (a failed probe counts): for metrics and tests. */
  opens: number;
  /** Bumped by every write: lets a cache keep the newest of two records it was handed. */
  version: number;
}

/**
 * Where circuits are kept. Every method but `get` and `addFailure` is a conditional write: it
 * returns the record after the write, or undefined when its precondition no longer held (the
 * state moved since the caller decided), and writes nothing then.
 */
export interface CircuitStore {
  get(provider: string): Promise<CircuitRecord | undefined>;
  /** Counts one failure, in any state (atomic: concurrent failures all count). Creates the item, closed. */
  addFailure(provider: string, failure: { at: number; error?: string }): Promise<CircuitRecord>;
  /** closed → open until `until`. Precondition: closed and failures >= minFailures. */
  open(
    provider: string,
    change: { at: number; until: number; minFailures: number },
  ): Promise<CircuitRecord | undefined>;
  /** Open again after a failure past the cool-down (a failed probe). Precondition: open and openUntil <= at. */
  reopen(provider: string, change: { at: number; until: number }): Promise<CircuitRecord | undefined>;
  /** openUntil = until. Precondition: open and openUntil < until (so it only ever moves later). */
  extend(provider: string, change: { until: number }): Promise<CircuitRecord | undefined>;
  /** Takes the probe lease. Precondition: open, openUntil <= at, and no unexpired lease (probeUntil <= at). */
  takeProbe(provider: string, lease: { at: number; until: number }): Promise<CircuitRecord | undefined>;
  /** half-open → closed, failures 0. Precondition: open and openUntil <= at. */
  close(provider: string, change: { at: number }): Promise<CircuitRecord | undefined>;
  /** failures = 0. Precondition: closed and failures > 0. */
  resetFailures(provider: string): Promise<CircuitRecord | undefined>;
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open a closed circuit (default 3). */
  failureThreshold?: number;
  /** How long an opened circuit skips its provider (default 30 s; a longer Retry-After wins). */
  cooldownMs?: number;
  /**
   * How long a probe may run before another caller may probe instead (default 30 s): a prober that
   * crashed must not keep the circuit open forever. Should be at least the provider call's timeout,
   * or a slow probe lets a second one in.
   */
  probeLeaseMs?: number;
  now?: () => number;
  /** How long a read is reused in this process (default 1 s; 0 reads on every call). */
  cacheMs?: number;
  /**
   * Told of every transition this instance wrote (the functions count them as metrics): opened
   * (a failed probe included), half-open (this instance took the probe), closed. Never fails a call.
   */
  onTransition?: (provider: string, state: CircuitView['state']) => void;
}

/** What a caller may do with a provider: call it, call it as the one probe, or skip it. */
export type CircuitDecision = 'closed' | 'probe' | 'open';

/** A circuit as status and metrics show it. */
export interface CircuitView {
  provider: string;
  state: 'closed' | 'open' | 'half-open';
  failures: number;
  openUntil?: string;
  /** Set while a probe lease is held (half-open). */
  probeUntil?: string;
  lastFailureAt?: string;
  lastError?: string;
  opens: number;
}

/** How often a transition refused by a concurrent change is re-decided on the fresh state. */
const TRANSITION_ATTEMPTS = 3;

/**
 * The breaker. Call `acquire` before calling a provider; then `success` or `failure` with what
 * happened. Count only failures that say something about the provider's health (5xx, 429/503,
 * timeouts, network errors), not a request the provider rightly refused (400) nor a refused key.
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly probeLeaseMs: number;
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly onTransition: CircuitBreakerOptions['onTransition'];
  private readonly cache = new Map<string, { record: CircuitRecord | undefined; readAt: number }>();
  /** Reads in flight, shared by concurrent callers of this process (one read per provider at a time). */
  private readonly reads = new Map<string, Promise<CircuitRecord | undefined>>();

  constructor(
    private readonly store: CircuitStore,
    options: CircuitBreakerOptions = {},
  ) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.probeLeaseMs = options.probeLeaseMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.cacheMs = options.cacheMs ?? 1_000;
    this.onTransition = options.onTransition;
  }

  /**
   * closed: call the provider. open: skip it. probe: this caller is the one (across all
   * instances) that tries the provider after its cool-down; report the outcome with success or
   * failure.
   */
  async acquire(provider: string): Promise<CircuitDecision> {
    const record = await this.current(provider);
    const at = this.now();
    if (!record || record.state === 'closed') return 'closed';
    if (at < (record.openUntil ?? 0)) return 'open';
    if (record.probeUntil !== undefined && at < record.probeUntil) return 'open';
    const taken = await this.store.takeProbe(provider, { at, until: at + this.probeLeaseMs });
    if (taken) {
      this.remember(provider, taken);
      this.notify(provider, 'half-open');
      return 'probe';
    }
    // Another caller took the probe (or the state moved): what is stored now decides.
    const fresh = await this.read(provider);
    return !fresh || fresh.state === 'closed' ? 'closed' : 'open';
  }

  /**
   * The provider answered. Closes a half-open circuit; resets the count of a closed one that had
   * failures. A success while the cool-down runs changes nothing (a straggler call must not undo a
   * Retry-After; the probe decides). Writes nothing when nothing changes.
   */
  async success(provider: string): Promise<void> {
    const record = await this.current(provider);
    if (!record) return;
    const at = this.now();
    if (record.state === 'closed') {
      if (record.failures === 0) return;
      await this.apply(provider, this.store.resetFailures(provider));
      return;
    }
    if (at < (record.openUntil ?? 0)) return;
    await this.apply(provider, this.store.close(provider, { at }), 'closed');
  }

  /**
   * The provider failed. Counted (atomically, so concurrent failures all count); opens the circuit
   * at the threshold, or at once for `retryAfterMs` (a 429/503 with Retry-After) for
   * max(cooldownMs, retryAfterMs); a failure past the cool-down (a failed probe) opens it again.
   */
  async failure(provider: string, details: { retryAfterMs?: number; error?: string } = {}): Promise<void> {
    const at = this.now();
    const retryAfterMs =
      details.retryAfterMs !== undefined && details.retryAfterMs > 0 ? details.retryAfterMs : undefined;
    let record: CircuitRecord | undefined = await this.store.addFailure(provider, {
      at,
      ...(details.error === undefined ? {} : { error: details.error.slice(0, 500) }),
    });
    this.remember(provider, record);
    for (let attempt = 0; attempt < TRANSITION_ATTEMPTS && record; attempt += 1) {
      const change = this.transitionAfterFailure(provider, record, at, retryAfterMs);
      if (!change) return;
      const changed = await change;
      if (changed) {
        this.remember(provider, changed);
        if (changed.opens > record.opens) this.notify(provider, 'open');
        return;
      }
      // Refused: the state moved since this failure was counted. Decide again on what is stored.
      record = await this.read(provider);
    }
  }

  /** The circuit as stored now (a fresh read), for status and metrics. */
  async state(provider: string): Promise<CircuitView> {
    const record = await this.read(provider);
    const at = this.now();
    if (!record) return { provider, state: 'closed', failures: 0, opens: 0 };
    const iso = (ms: number) => new Date(ms).toISOString();
    const view: CircuitView = {
      provider,
      state: record.state === 'closed' ? 'closed' : at < (record.openUntil ?? 0) ? 'open' : 'half-open',
      failures: record.failures,
      opens: record.opens,
    };
    if (record.state === 'open' && record.openUntil !== undefined) view.openUntil = iso(record.openUntil);
    if (record.state === 'open' && record.probeUntil !== undefined && at < record.probeUntil)
      view.probeUntil = iso(record.probeUntil);
    if (record.lastFailureAt !== undefined) view.lastFailureAt = iso(record.lastFailureAt);
    if (record.lastError !== undefined) view.lastError = record.lastError;
    return view;
  }

  /** The conditional write a counted failure calls for, if any. */
  private transitionAfterFailure(
    provider: string,
    record: CircuitRecord,
    at: number,
    retryAfterMs: number | undefined,
  ) {
    const until = at + Math.max(this.cooldownMs, retryAfterMs ?? 0);
    if (record.state === 'closed') {
      if (retryAfterMs !== undefined) return this.store.open(provider, { at, until, minFailures: 0 });
      if (record.failures >= this.failureThreshold)
        return this.store.open(provider, { at, until, minFailures: this.failureThreshold });
      return undefined;
    }
    const openUntil = record.openUntil ?? 0;
    if (openUntil <= at) return this.store.reopen(provider, { at, until });
    // Inside the cool-down a plain failure changes nothing (else every straggler would push the
    // cool-down further); only the provider's own Retry-After may move it, and only later.
    if (retryAfterMs !== undefined && at + retryAfterMs > openUntil)
      return this.store.extend(provider, { until: at + retryAfterMs });
    return undefined;
  }

  /** Runs a conditional write; keeps what it wrote (and reports the transition), or rereads what refused it. */
  private async apply(
    provider: string,
    write: Promise<CircuitRecord | undefined>,
    transition?: CircuitView['state'],
  ): Promise<void> {
    const written = await write;
    if (written) {
      this.remember(provider, written);
      if (transition) this.notify(provider, transition);
    } else await this.read(provider);
  }

  private notify(provider: string, state: CircuitView['state']): void {
    try {
      this.onTransition?.(provider, state);
    } catch {
      // Observability only: a failing observer never changes what the breaker decided.
    }
  }

  /** The cached record while it is fresh, else a read. */
  private async current(provider: string): Promise<CircuitRecord | undefined> {
    const cached = this.cache.get(provider);
    if (cached && this.now() - cached.readAt < this.cacheMs) return cached.record;
    return this.read(provider);
  }

  private read(provider: string): Promise<CircuitRecord | undefined> {
    const pending = this.reads.get(provider);
    if (pending) return pending;
    const read = this.store
      .get(provider)
      .then((record) => {
        this.remember(provider, record, true);
        return record;
      })
      .finally(() => this.reads.delete(provider));
    this.reads.set(provider, read);
    return read;
  }

  /**
   * Caches a record, unless the cache already holds a newer one (a read that started before this
   * instance's own write may return after it). A read of a missing item is version 0.
   */
  private remember(provider: string, record: CircuitRecord | undefined, isRead = false): void {
    const cached = this.cache.get(provider);
    if (cached && (cached.record?.version ?? 0) > (record?.version ?? 0)) {
      if (isRead) cached.readAt = this.now();
      return;
    }
    this.cache.set(provider, { record, readAt: this.now() });
  }
}
