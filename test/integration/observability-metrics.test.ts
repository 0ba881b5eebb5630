import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { processRedactor } from '../../lib/secrets/redactor.js';
import { startTestStack, type TestStack, testAgent } from '../support/local-stack.js';

// Before any module creates its Metrics (vi.hoisted runs ahead of the imports): this test reads the EMF output.
vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

// The EMF metrics of docs/operations.md, as the handlers print them (Powertools writes one JSON
// object per line to stdout): the in-process local stack runs a fan-out turn, the idle sweep, a
// secret's accesses and rotation, a redaction and a circuit's round trip; what reaches stdout is read back.

const SIGNING = 'metrics-signing';
let stack: TestStack;
let written: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    agents: {
      main: testAgent(['offline'], { subAgents: ['data', 'analysis', 'trading'], maxChildren: 3, secrets: [SIGNING] }),
      capped: testAgent(['test:delay=1500'], { maxActiveThreads: 2, maxConcurrentTurns: 1 }),
    },
    secrets: {
      [SIGNING]: {
        source: 'aws-secretsmanager://tb-metrics/signing',
        rotation: { schedule: 'rate(30 days)', strategy: 'generated' },
      },
    },
    circuitBreaker: { failureThreshold: 3, cooldown: '1s' },
  } as never);
});
afterAll(async () => stack?.stop());

beforeEach(() => {
  written = [];
  // Kept, not echoed: the test's output stays readable.
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write);
});
afterEach(() => vi.restoreAllMocks());

interface Emf {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

/** The EMF data points printed since the test began that carry metric `name`. */
function points(name: string): Emf[] {
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{"_aws"'))
    .map((line) => JSON.parse(line) as Emf)
    .filter((emf) => emf._aws.CloudWatchMetrics[0]!.Metrics.some((metric) => metric.Name === name));
}
const unitOf = (emf: Emf, name: string) =>
  emf._aws.CloudWatchMetrics[0]!.Metrics.find((metric) => metric.Name === name)!.Unit;
const dimensionsOf = (emf: Emf) => emf._aws.CloudWatchMetrics[0]!.Dimensions;

describe('EMF metrics', () => {
  it('count each finished turn once per agent (main and its sub-agents) with its duration', async () => {
    expect((await stack.call('POST', '/v1/threads', { body: { agent: 'main', sessionKey: 'metrics-a' } })).status).toBe(
      201,
    );
    const submitted = await stack.call('POST', '/v1/threads/metrics-a/turns', {
      body: { input: 'analyse the BTC price trend' },
    });
    expect((await stack.finalTurn('metrics-a', submitted.body.turnId)).status).toBe('succeeded');
    const succeeded = points('TurnsSucceeded');
    expect(succeeded.map((emf) => emf.agent).sort()).toEqual(['analysis', 'data', 'main']);
    for (const emf of succeeded) {
      expect(emf).toMatchObject({ service: 'threadbound', TurnsSucceeded: 1 });
      expect(emf._aws.CloudWatchMetrics[0]!.Namespace).toBe('threadbound');
      expect(dimensionsOf(emf)).toEqual([['service', 'agent']]);
    }
    const duration = points('TurnDuration').find((emf) => emf.agent === 'main')!;
    expect(unitOf(duration, 'TurnDuration')).toBe('Milliseconds');
    expect(duration.TurnDuration).toBeGreaterThan(0);
    expect(points('TurnsFailed')).toEqual([]);
  });

  it("the idle sweep reports every configured agent's utilisation of maxActiveThreads and maxConcurrentTurns, in percent", async () => {
    const { handler } = await import('../../functions/maintenance/idle-sweep.js');
    await handler({} as never, {} as never);
    const agents = (await stack.call('GET', '/v1/agents')).body.agents as {
      name: string;
      activeThreads: number;
      limits: { maxActiveThreads: number };
    }[];
    for (const name of ['ActiveThreadsUtilisation', 'ConcurrentTurnsUtilisation']) {
      const gauges = points(name);
      expect(gauges.map((emf) => emf.agent).sort(), name).toEqual(agents.map((agent) => agent.name).sort());
      for (const emf of gauges) {
        expect(unitOf(emf, name)).toBe('Percent');
        expect(dimensionsOf(emf)).toEqual([['service', 'agent']]);
      }
    }
    const main = agents.find((agent) => agent.name === 'main')!;
    expect(main.activeThreads).toBeGreaterThan(0);
    expect(points('ActiveThreadsUtilisation').find((emf) => emf.agent === 'main')!.ActiveThreadsUtilisation).toBe(
      Math.round((main.activeThreads / main.limits.maxActiveThreads) * 1000) / 10,
    );
    expect(points('SweepItemsRead')).toHaveLength(1);
  });

  it('count secret accesses and denials by secret, rotations, and exposure risk with no dimension but the service', async () => {
    const context = {
      ...(await import('../../functions/shared/deps/secret-resolver.js')),
      ...(await import('../../functions/shared/deps/secret-admin.js')),
    };
    const secret = await context.secretResolver.resolve(SIGNING, {
      agent: 'main',
      tenant: 'tenant-a',
      sessionKey: 'metrics-a',
    });
    expect(points('SecretAccess').map((emf) => emf.secret)).toEqual([SIGNING]);
    await expect(context.secretResolver.resolve(SIGNING, { agent: 'data' })).rejects.toMatchObject({
      code: 'secret_denied',
    });
    expect(points('SecretDenied').map((emf) => [emf.secret, dimensionsOf(emf)])).toEqual([
      [SIGNING, [['service', 'secret']]],
    ]);

    expect(processRedactor.redact(`leaked ${secret.value}`)).not.toContain(secret.value);
    const exposure = points('ExposureRisk');
    expect(exposure.length).toBeGreaterThanOrEqual(1);
    for (const emf of exposure) expect(dimensionsOf(emf)).toEqual([['service']]);
    expect(JSON.stringify(written)).not.toContain(secret.value);

    await context.secretAdmin.rotate(SIGNING);
    await stack.secretsManager.rotations();
    expect(points('RotationSucceeded').map((emf) => emf.secret)).toEqual([SIGNING]);
    expect(points('RotationFailed')).toEqual([]);
  });

  it('count a provider circuit opening and closing again', async () => {
    const { providerHealth } = await import('../../functions/shared/deps/provider-health.js');
    const provider = `metrics-provider-${Date.now()}`;
    await providerHealth.failure(provider, { retryAfterMs: 1 });
    expect(points('CircuitOpened').map((emf) => [emf.provider, dimensionsOf(emf)])).toEqual([
      [provider, [['service', 'provider']]],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the 1 s cool-down
    expect(await providerHealth.acquire(provider)).toBe('probe');
    await providerHealth.success(provider);
    expect(points('CircuitClosed').map((emf) => emf.provider)).toEqual([provider]);
  });

  it("count every refusal by a full limit when it happens, by agent and limit (the sweep's gauges miss such spikes)", async () => {
    for (const key of ['capped-1', 'capped-2'])
      expect((await stack.call('POST', '/v1/threads', { body: { agent: 'capped', sessionKey: key } })).status).toBe(
        201,
      );
    expect(
      (await stack.call('POST', '/v1/threads', { body: { agent: 'capped', sessionKey: 'capped-3' } })).status,
    ).toBe(429);
    const submitted = await Promise.all(
      ['capped-1', 'capped-2'].map((key) => stack.call('POST', `/v1/threads/${key}/turns`, { body: { input: 'hi' } })),
    );
    expect(submitted.map((response) => response.status).sort()).toEqual([202, 429]);
    const refused = points('LimitReached');
    expect(refused.map((emf) => [emf.agent, emf.limit, emf.LimitReached])).toEqual([
      ['capped', 'maxActiveThreads', 1],
      ['capped', 'maxConcurrentTurns', 1],
    ]);
    for (const emf of refused) expect(dimensionsOf(emf)).toEqual([['service', 'agent', 'limit']]);
    // The accepted turn ends before the stack stops.
    const accepted = submitted.findIndex((response) => response.status === 202);
    await stack.finalTurn(`capped-${accepted + 1}`, submitted[accepted]!.body.turnId);
  });
});
