import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCircuitStore } from '../../lib/adapters/dynamodb/circuit-store.js';
import { createDocumentClient } from '../../lib/adapters/dynamodb/client.js';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../../lib/models/circuit-breaker.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';

// Two CircuitBreaker instances on one table stand for two Lambda instances; the clock is the
// test's. Caches are off (cacheMs 0) unless a test is about the cache, so every decision reads
// the table.
let clock = Date.parse('2026-05-01T00:00:00Z');
const now = () => clock;
const seconds = (n: number) => n * 1_000;
const iso = (ms: number) => new Date(ms).toISOString();

let table: TestTable;
let counted: DynamoDBDocumentClient;
/** Every DynamoDB request sent through `counted`, by command name. */
let requests: string[] = [];

const instance = (options: CircuitBreakerOptions = {}, client?: DynamoDBDocumentClient) =>
  new CircuitBreaker(new DynamoCircuitStore(client ?? table.client, table.tableName), { now, cacheMs: 0, ...options });
const twoInstances = (options: CircuitBreakerOptions = {}) => [instance(options), instance(options)] as const;
const item = (provider: string) => table.getItem(keys.providerCircuit(provider).pk, keys.providerCircuit(provider).sk);
const tally = (decisions: string[]) =>
  decisions.reduce<Record<string, number>>((acc, d) => {
    acc[d] = (acc[d] ?? 0) + 1;
    return acc;
  }, {});
/** 20 concurrent acquires, alternating between the two instances. */
const acquireMany = (pair: readonly [CircuitBreaker, CircuitBreaker], provider: string, n = 20) =>
  Promise.all(Array.from({ length: n }, (_, i) => pair[i % 2]!.acquire(provider)));

beforeAll(async () => {
  table = await createTestTable('circuit');
  counted = createDocumentClient({
    endpoint: table.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  counted.middlewareStack.add(
    (next, context) => async (args) => {
      requests.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
});
afterAll(async () => {
  counted?.destroy();
  await table?.drop();
});

describe('circuit breaker on the table', () => {
  it('opens at the threshold of consecutive failures and skips the provider during the cool-down', async () => {
    const [a, b] = twoInstances();
    await a.failure('p-threshold', { error: 'HTTP 500' });
    await b.failure('p-threshold', { error: 'HTTP 502' });
    expect(await a.acquire('p-threshold')).toBe('closed');
    expect(await b.acquire('p-threshold')).toBe('closed');

    const openedAt = clock;
    await a.failure('p-threshold', { error: 'HTTP 503' });
    expect(await a.acquire('p-threshold')).toBe('open');
    expect(await b.acquire('p-threshold')).toBe('open');
    expect(await b.state('p-threshold')).toEqual({
      provider: 'p-threshold',
      state: 'open',
      failures: 3,
      opens: 1,
      openUntil: iso(openedAt + seconds(30)),
      lastFailureAt: iso(openedAt),
      lastError: 'HTTP 503',
    });
    expect(await item('p-threshold')).toMatchObject({ kind: 'circuit', provider: 'p-threshold', state: 'open' });

    // Still inside the cool-down: skipped; a straggler's failure does not push the cool-down later,
    // and a straggler's success does not end it early.
    clock += seconds(29);
    await b.failure('p-threshold');
    await a.success('p-threshold');
    expect(await a.acquire('p-threshold')).toBe('open');
    expect(await a.state('p-threshold')).toMatchObject({
      state: 'open',
      failures: 4,
      opens: 1,
      openUntil: iso(openedAt + seconds(30)),
    });
  });

  it('a success between failures resets the count: only consecutive failures open the circuit', async () => {
    const [a, b] = twoInstances();
    await a.failure('p-reset');
    await b.failure('p-reset');
    await b.success('p-reset');
    expect(await a.state('p-reset')).toMatchObject({ state: 'closed', failures: 0 });
    await a.failure('p-reset');
    await b.failure('p-reset');
    expect(await a.acquire('p-reset')).toBe('closed');
  });

  it('after the cool-down exactly one of 20 concurrent callers on two instances probes; its success brings traffic back', async () => {
    const pair = twoInstances();
    for (let i = 0; i < 3; i += 1) await pair[i % 2]!.failure('p-probe');
    expect(tally(await acquireMany(pair, 'p-probe'))).toEqual({ open: 20 });

    clock += seconds(30);
    expect(tally(await acquireMany(pair, 'p-probe'))).toEqual({ probe: 1, open: 19 });
    expect(await pair[0].state('p-probe')).toMatchObject({ state: 'half-open', probeUntil: iso(clock + seconds(30)) });
    // While the probe runs, everyone else keeps skipping the provider.
    clock += seconds(5);
    expect(tally(await acquireMany(pair, 'p-probe'))).toEqual({ open: 20 });

    await pair[1].success('p-probe');
    expect(tally(await acquireMany(pair, 'p-probe'))).toEqual({ closed: 20 });
    const state = await pair[0].state('p-probe');
    expect(state).toMatchObject({ state: 'closed', failures: 0 });
    expect(state.openUntil).toBeUndefined();
    expect(state.probeUntil).toBeUndefined();
  });

  it('a failed probe opens the circuit again for a new cool-down, then probes again', async () => {
    const pair = twoInstances();
    for (let i = 0; i < 3; i += 1) await pair[0].failure('p-reprobe');
    clock += seconds(30);
    const decisions = await acquireMany(pair, 'p-reprobe');
    const prober = pair[decisions.indexOf('probe') % 2]!;
    expect(tally(decisions)).toEqual({ probe: 1, open: 19 });

    clock += seconds(2);
    const failedAt = clock;
    await prober.failure('p-reprobe', { error: 'still down' });
    expect(await pair[0].state('p-reprobe')).toMatchObject({
      state: 'open',
      failures: 4,
      opens: 2,
      openUntil: iso(failedAt + seconds(30)),
      lastError: 'still down',
    });
    expect(tally(await acquireMany(pair, 'p-reprobe'))).toEqual({ open: 20 });

    // Two more failures arriving late (stragglers) neither reopen nor extend it.
    clock += seconds(10);
    await Promise.all([pair[0].failure('p-reprobe'), pair[1].failure('p-reprobe')]);
    expect(await pair[0].state('p-reprobe')).toMatchObject({
      opens: 2,
      openUntil: iso(failedAt + seconds(30)),
      failures: 6,
    });

    clock = failedAt + seconds(30);
    expect(tally(await acquireMany(pair, 'p-reprobe'))).toEqual({ probe: 1, open: 19 });
  });

  it('a prober that crashed (no outcome) holds the probe only for probeLeaseMs; then another caller probes', async () => {
    const pair = twoInstances({ probeLeaseMs: seconds(20) });
    for (let i = 0; i < 3; i += 1) await pair[1].failure('p-crash');
    clock += seconds(30);
    expect(tally(await acquireMany(pair, 'p-crash'))).toEqual({ probe: 1, open: 19 });
    // The prober never reports.
    clock += seconds(20) - 1;
    expect(tally(await acquireMany(pair, 'p-crash'))).toEqual({ open: 20 });
    clock += 1;
    expect(tally(await acquireMany(pair, 'p-crash'))).toEqual({ probe: 1, open: 19 });

    // The first prober's late success still closes it (the provider answered after the cool-down).
    await pair[0].success('p-crash');
    expect(tally(await acquireMany(pair, 'p-crash'))).toEqual({ closed: 20 });
  });

  it('a failure with Retry-After opens the circuit at once, for max(cooldownMs, retryAfterMs)', async () => {
    const [a, b] = twoInstances();
    const openedAt = clock;
    await a.failure('p-429', { retryAfterMs: seconds(120), error: 'HTTP 429' });
    expect(await b.acquire('p-429')).toBe('open');
    expect(await b.state('p-429')).toMatchObject({
      state: 'open',
      failures: 1,
      openUntil: iso(openedAt + seconds(120)),
    });

    clock += seconds(60);
    expect(await b.acquire('p-429')).toBe('open');
    // A shorter Retry-After inside the cool-down never ends it earlier; a longer one moves it later.
    await b.failure('p-429', { retryAfterMs: seconds(10) });
    expect(await a.state('p-429')).toMatchObject({ openUntil: iso(openedAt + seconds(120)), opens: 1 });
    await b.failure('p-429', { retryAfterMs: seconds(90) });
    expect(await a.state('p-429')).toMatchObject({ openUntil: iso(clock + seconds(90)), opens: 1 });

    clock += seconds(90) - 1;
    expect(await a.acquire('p-429')).toBe('open');
    clock += 1;
    expect(await a.acquire('p-429')).toBe('probe');

    // A short Retry-After on a closed circuit still opens it for the full cool-down.
    const shortAt = clock;
    await a.failure('p-429-short', { retryAfterMs: seconds(2) });
    expect(await b.state('p-429-short')).toMatchObject({
      state: 'open',
      failures: 1,
      openUntil: iso(shortAt + seconds(30)),
    });
  });

  it('50 concurrent failures from two instances are all counted and open the circuit once', async () => {
    const pair = twoInstances();
    const at = clock;
    await Promise.all(Array.from({ length: 50 }, (_, i) => pair[i % 2]!.failure('p-storm', { error: `failure ${i}` })));
    expect(await pair[0].state('p-storm')).toMatchObject({
      state: 'open',
      failures: 50,
      opens: 1,
      openUntil: iso(at + seconds(30)),
    });
    // The same storm past the cool-down: one reopen, not 50.
    clock += seconds(30);
    const reopenAt = clock;
    await Promise.all(Array.from({ length: 50 }, (_, i) => pair[i % 2]!.failure('p-storm')));
    expect(await pair[1].state('p-storm')).toMatchObject({
      state: 'open',
      failures: 100,
      opens: 2,
      openUntil: iso(reopenAt + seconds(30)),
    });
  });

  it('a healthy provider costs no write per call and at most one read per cacheMs per instance', async () => {
    const healthy = instance({ cacheMs: 1_000 }, counted);
    requests = [];
    for (let i = 0; i < 100; i += 1) {
      expect(await healthy.acquire('p-healthy')).toBe('closed');
      await healthy.success('p-healthy');
    }
    expect(requests).toEqual(['GetItemCommand']);

    // Without a cache: a read per decision, still no write; the item is never created.
    const uncached = instance({}, counted);
    requests = [];
    await uncached.acquire('p-healthy');
    await uncached.success('p-healthy');
    expect(requests).toEqual(['GetItemCommand', 'GetItemCommand']);
    expect(await item('p-healthy')).toBeUndefined();

    // With failures on record, the first success resets them (one write), the next ones write nothing.
    await uncached.failure('p-healthy');
    const { version } = (await item('p-healthy'))!;
    requests = [];
    await uncached.success('p-healthy');
    await uncached.success('p-healthy');
    await uncached.success('p-healthy');
    expect(requests.filter((name) => name !== 'GetItemCommand')).toEqual(['UpdateItemCommand']);
    expect(await item('p-healthy')).toMatchObject({ failures: 0, version: Number(version) + 1 });
  });

  it('the cache: another instance’s change is seen within cacheMs; this instance’s own changes at once', async () => {
    const cached = instance({ cacheMs: 1_000 });
    const other = instance();
    expect(await cached.acquire('p-cache')).toBe('closed');
    for (let i = 0; i < 3; i += 1) await other.failure('p-cache');
    expect(await cached.acquire('p-cache')).toBe('closed');
    clock += 1_000;
    expect(await cached.acquire('p-cache')).toBe('open');

    // Its own failures update its cache: no stale 'closed' after it opened the circuit itself.
    expect(await cached.acquire('p-cache-own')).toBe('closed');
    for (let i = 0; i < 3; i += 1) await cached.failure('p-cache-own');
    expect(await cached.acquire('p-cache-own')).toBe('open');
    // The probe write updates it too: its success closes the circuit without another read.
    clock += seconds(30);
    expect(await cached.acquire('p-cache-own')).toBe('probe');
    await cached.success('p-cache-own');
    expect(await cached.acquire('p-cache-own')).toBe('closed');
    expect(await other.state('p-cache-own')).toMatchObject({ state: 'closed', failures: 0 });
  });
});
