import { PassThrough } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatLine, installLogOutput, logFormatFrom } from '../../infra/local/log-output.js';

// The local stack's output, fed with what Powertools itself prints (its Logger and EMF Metrics), not
// hand-written JSON: the format follows the library's real lines.

let written: string[];
beforeEach(() => {
  written = [];
  // Powertools prints WARN and above to stderr, the rest to stdout.
  for (const stream of [process.stdout, process.stderr])
    vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof stream.write);
});
afterEach(() => vi.restoreAllMocks());

/** The lines Powertools printed, without their newlines. */
const printed = () => written.join('').split('\n').filter(Boolean);

function logLine(): string {
  const logger = new Logger({ serviceName: 'threadbound', logLevel: 'INFO' });
  logger.appendKeys({ tenant: 'acme', sessionKey: 's-1', turnId: 'turn_1', agent: 'main' });
  logger.warn('model fallback', { from: 'anthropic:x', reason: 'HTTP 429 rate limited', error: new Error('boom') });
  return printed()[0]!;
}

function metricLine(values: Record<string, number>): string {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  const metrics = new Metrics({ namespace: 'threadbound', serviceName: 'threadbound' });
  metrics.addDimension('agent', 'main');
  for (const [name, value] of Object.entries(values)) metrics.addMetric(name, MetricUnit.Count, value);
  metrics.publishStoredMetrics();
  vi.unstubAllEnvs();
  return printed().find((line) => line.includes('"_aws"'))!;
}

describe('local stack output', () => {
  it('reads THREADBOUND_LOG_FORMAT: json, else readable', () => {
    expect(logFormatFrom('json')).toBe('json');
    expect(logFormatFrom('JSON')).toBe('json');
    expect(logFormatFrom(undefined)).toBe('readable');
    expect(logFormatFrom('pretty')).toBe('readable');
  });

  it('prints a log event as one line: time, level, message, the correlation fields first, then the rest', () => {
    const line = logLine();
    const readable = formatLine(line, 'readable');
    expect(readable).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}model fallback tenant=acme sessionKey=s-1 turnId=turn_1 agent=main from=anthropic:x reason="HTTP 429 rate limited" error="Error: boom"\n$/,
    );
    expect(readable).not.toContain('function_request_id');
    expect(readable).not.toContain('cold_start');
  });

  it('keeps the JSON line unchanged in the json format', () => {
    const line = logLine();
    expect(formatLine(line, 'json')).toBe(`${line}\n`);
  });

  it('drops a metric line whose every figure is zero, in both formats', () => {
    const line = metricLine({ LeasesReleased: 0, ThreadsCleaned: 0 });
    expect(formatLine(line, 'readable')).toBe('');
    expect(formatLine(line, 'json')).toBe('');
  });

  it('prints the non-zero figures of a metric line with its dimensions (the JSON format keeps the line)', () => {
    const line = metricLine({ LeasesReleased: 2, ThreadsCleaned: 0 });
    expect(formatLine(line, 'readable')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} METRIC LeasesReleased=2 agent=main\n$/);
    expect(formatLine(line, 'json')).toBe(`${line}\n`);
  });

  it('passes lines that are not JSON objects unchanged (the banner)', () => {
    expect(formatLine('threadbound listening on http://127.0.0.1:3000', 'readable')).toBe(
      'threadbound listening on http://127.0.0.1:3000\n',
    );
    expect(formatLine('{not json', 'readable')).toBe('{not json\n');
  });

  it('rewrites a stream line by line, whatever the writes split', () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    const out: string[] = [];
    stream.write = ((chunk: string) => out.push(chunk) > 0) as typeof stream.write;
    const flush = installLogOutput('readable', stream);
    const line = logLine();
    stream.write(`banner\n${line.slice(0, 10)}`);
    stream.write(`${line.slice(10)}\n${metricLine({ Zero: 0 })}\ntail`);
    flush();
    expect(out.join('')).toMatch(/^banner\n\d\d:\d\d:\d\d\.\d{3} WARN {2}model fallback tenant=acme .*\ntail\n$/);
  });
});
