import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { publicHandler } from '../../functions/shared/http/api-handler.js';
import { tracer } from '../../functions/shared/tracer.js';
import { workerHandler } from '../../functions/shared/worker-handler.js';
import { processRedactor } from '../../lib/secrets/redactor.js';

// Error path: a handler throws an error whose message (and so stack) quotes a secret value. Tracing
// is off outside Lambda, so the seam is the tracer itself: switched on, with no segment to open, and
// its addErrorAsMetadata (where the segment would get message and stack) recorded.

const SECRET = 'sk-live-error-path-0123456789';
processRedactor.register('error-path-key', SECRET);

let traced: Error[] = [];
let written: string[] = [];

beforeEach(() => {
  traced = [];
  written = [];
  vi.spyOn(tracer, 'isTracingEnabled').mockReturnValue(true);
  vi.spyOn(tracer, 'getSegment').mockReturnValue(undefined);
  vi.spyOn(tracer, 'annotateColdStart').mockImplementation(() => undefined);
  vi.spyOn(tracer, 'addServiceNameAnnotation').mockImplementation(() => undefined);
  vi.spyOn(tracer, 'addErrorAsMetadata').mockImplementation((error: Error) => {
    // A copy of what the segment would store, taken when the tracer sees it.
    traced.push(Object.assign(new Error(error.message), { stack: error.stack }));
  });
  // The logger's lines, on whichever stream its level goes to.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof stream.write);
  }
});
afterEach(() => vi.restoreAllMocks());

const context = { awsRequestId: 'req-redact', functionName: 'test' } as Context;
const leaky = () => {
  throw new Error(`upstream refused key ${SECRET}`, { cause: new Error(`inner ${SECRET}`) });
};

describe('errors are scrubbed before the tracer sees them', () => {
  it('in an API route: the segment and the logged line carry no secret value', async () => {
    const handler = publicHandler(async () => leaky());
    const response = await handler({ routeKey: 'GET /v1/x' } as never, context);
    expect(response.statusCode).toBe(500);
    expect(traced).toHaveLength(1);
    expect(traced[0]!.message).toBe('upstream refused key [REDACTED:error-path-key]');
    expect(traced[0]!.stack).not.toContain(SECRET);
    expect(traced[0]!.stack).toContain('[REDACTED:error-path-key]');
    const logged = written.join('');
    expect(logged).toContain('unhandled error');
    expect(logged).not.toContain(SECRET);
  });

  it('in a worker (turn-control, rotation, maintenance): the segment and the rethrown error carry no secret value', async () => {
    const handler = workerHandler(async () => leaky());
    const thrown = await handler({}, context).catch((error: unknown) => error as Error);
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown.message).toBe('upstream refused key [REDACTED:error-path-key]');
    expect(thrown.stack).not.toContain(SECRET);
    expect((thrown.cause as Error).message).toBe('inner [REDACTED:error-path-key]');
    expect(traced.map((error) => error.message)).toEqual(['upstream refused key [REDACTED:error-path-key]']);
    expect(traced[0]!.stack).not.toContain(SECRET);
  });
});
