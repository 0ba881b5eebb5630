/**
 * What `npm start` prints. The handlers log JSON through Powertools and emit metrics as EMF JSON, as
 * on Lambda; on a terminal that is a wall of long lines, so by default the local stack rewrites each
 * log event as one line for humans (time, level, message, the key fields) and each metric line as the
 * figures it carries. `THREADBOUND_LOG_FORMAT=json` keeps the JSON lines as they are (for `jq`, and for
 * the tests that parse them). In both formats a metric line whose every figure is zero is not printed:
 * the maintenance timers tick every few seconds and would otherwise print `LeasesReleased: 0` forever.
 * Only what the local stack writes passes through here; nothing changes on AWS.
 */

/** The two output formats of the local stack. */
export type LogFormat = 'readable' | 'json';

/** The format THREADBOUND_LOG_FORMAT asks for (anything but "json" reads as the readable default). */
export function logFormatFrom(value: string | undefined): LogFormat {
  return value?.toLowerCase() === 'json' ? 'json' : 'readable';
}

/** Fields every Powertools line carries that say nothing about the event (the Lambda context, the clock). */
const NOISE = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
]);
/** The correlation fields, printed first in this order. */
const KEY_FIELDS = ['tenant', 'sessionKey', 'turnId', 'agent'];
const UNITS: Record<string, string> = { Milliseconds: 'ms', Seconds: 's', Bytes: 'B', Percent: '%' };

type Json = Record<string, unknown>;
interface EmfLine extends Json {
  _aws: {
    Timestamp?: number;
    CloudWatchMetrics: { Dimensions?: string[][]; Metrics: { Name: string; Unit?: string }[] }[];
  };
}

const isEmf = (value: Json): value is EmfLine =>
  typeof value._aws === 'object' && value._aws !== null && 'CloudWatchMetrics' in value._aws;

/**
 * Rewrites one line of output: the line to print (with its newline) or '' to print nothing. A line
 * that is not a JSON object (the banner, a child process's text) passes unchanged.
 */
export function formatLine(line: string, format: LogFormat): string {
  const record = parseObject(line);
  if (!record) return `${line}\n`;
  if (isEmf(record)) {
    if (metricValues(record).every(([, value]) => isZero(value))) return '';
    return format === 'json' ? `${line}\n` : `${readableMetrics(record)}\n`;
  }
  if (format === 'json' || typeof record.level !== 'string') return `${line}\n`;
  return `${readableLog(record)}\n`;
}

function parseObject(line: string): Json | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

function metricValues(record: EmfLine): [string, unknown, string | undefined][] {
  return record._aws.CloudWatchMetrics.flatMap((set) =>
    set.Metrics.map((metric): [string, unknown, string | undefined] => [metric.Name, record[metric.Name], metric.Unit]),
  );
}

const isZero = (value: unknown): boolean =>
  Array.isArray(value) ? value.every((item) => item === 0) : value === 0 || value === undefined;

function readableLog(record: Json): string {
  const fields = [
    ...KEY_FIELDS.filter((key) => record[key] !== undefined),
    ...Object.keys(record).filter((key) => !NOISE.has(key) && !KEY_FIELDS.includes(key)),
  ];
  const level = String(record.level).padEnd(5);
  return [clock(record.timestamp), level, String(record.message ?? ''), ...fields.map((key) => field(key, record[key]))]
    .filter((part) => part !== '')
    .join(' ');
}

function readableMetrics(record: EmfLine): string {
  const dimensions = record._aws.CloudWatchMetrics.flatMap((set) => set.Dimensions?.flat() ?? []).filter(
    (name, i, all) => name !== 'service' && all.indexOf(name) === i,
  );
  const figures = metricValues(record)
    .filter(([, value]) => !isZero(value))
    .map(
      ([name, value, unit]) => `${name}=${Array.isArray(value) ? value.join(',') : value}${UNITS[unit ?? ''] ?? ''}`,
    );
  return [
    clock(record._aws.Timestamp),
    'METRIC',
    ...figures,
    ...dimensions.map((name) => field(name, record[name])),
  ].join(' ');
}

/** The time of day, UTC, to the millisecond: a local run rarely spans days. */
function clock(value: unknown): string {
  const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : new Date(Number.NaN);
  return (Number.isNaN(date.getTime()) ? new Date() : date).toISOString().slice(11, 23);
}

function field(key: string, value: unknown): string {
  if (value === undefined) return '';
  const summary = errorSummary(value);
  return `${key}=${quoted(typeof summary === 'string' ? summary : JSON.stringify(summary))}`;
}

/** An error reads as its name, message and code; its stack stays in the JSON format. */
function errorSummary(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !('message' in value) || !('name' in value)) return value;
  const error = value as { name: string; message: string; code?: unknown };
  return `${error.name}: ${error.message}${error.code === undefined ? '' : ` (${String(error.code)})`}`;
}

const quoted = (text: string): string => (/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text));

/**
 * Routes a stream of this process (stdout, stderr) through `formatLine`, line by line (a write may hold part of a line,
 * or several). Returns a function that flushes a pending partial line.
 */
export function installLogOutput(format: LogFormat, stream: NodeJS.WriteStream): () => void {
  const write = stream.write.bind(stream) as (chunk: string) => boolean;
  let pending = '';
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    const out = lines.map((line) => formatLine(line, format)).join('');
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    if (out === '') {
      callback?.();
      return true;
    }
    const written = write(out);
    callback?.();
    return written;
  }) as typeof stream.write;
  return () => {
    if (pending !== '') write(formatLine(pending, format));
    pending = '';
  };
}
