import autocannon from 'autocannon';

/**
 * The load generator, run as its own process so that it does not share the event loop of the stack
 * it measures. Argument: a JSON {@link CannonSpec}; output: one JSON line of {@link CannonResult}.
 */

/** What to load. */
export interface CannonSpec {
  url: string;
  key: string;
  connections: number;
  durationSeconds: number;
  /** read: GET one thread; write: POST a turn, round-robin over `threads` threads (`load-w-<i>`). */
  route: 'read' | 'write';
  threads: number;
}

/** What one run measured. */
export interface CannonResult {
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

const spec = JSON.parse(process.argv[2]!) as CannonSpec;
let next = 0;
const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.durationSeconds,
  headers: { authorization: `Bearer ${spec.key}`, 'content-type': 'application/json' },
  requests: [
    spec.route === 'read'
      ? { method: 'GET', path: '/v1/threads/load-read' }
      : {
          method: 'POST',
          body: JSON.stringify({ input: 'load' }),
          setupRequest: (request) => {
            next += 1;
            return { ...request, path: `/v1/threads/load-w-${next % spec.threads}/turns` };
          },
        },
  ],
});
const output: CannonResult = {
  requests: result.requests.total,
  requestsPerSecond: result.requests.average,
  latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  statusCodes: Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats?.count ?? 0]),
  ),
};
process.stdout.write(`${JSON.stringify(output)}\n`);
