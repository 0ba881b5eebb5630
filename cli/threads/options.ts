import { durationMs } from '../../lib/config/duration.js';
import type { CommandContext } from '../command.js';
import { UsageError } from '../errors.js';

/** How long `threads send` waits for a turn unless --timeout says otherwise. */
export const DEFAULT_SEND_TIMEOUT = '15m';

/** The --timeout of `threads send` in milliseconds (a duration such as "90s" or "30m"), or a usage error. */
export function parseTimeout(value: string | boolean | undefined, command: readonly string[]): number {
  try {
    return durationMs(typeof value === 'string' ? value : DEFAULT_SEND_TIMEOUT);
  } catch {
    throw new UsageError(`--timeout must be a duration such as 90s, 30m or 1h (got ${JSON.stringify(value)})`, command);
  }
}

/** A positive whole number from an option, or a usage error naming it. */
export function parseCount(
  value: string | boolean | undefined,
  option: string,
  command: readonly string[],
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--${option} must be a whole number from 1 to ${max}`, command);
  return n;
}

/** --metadata: a JSON object of string values (the API checks names and sizes). */
export function parseMetadata(
  value: string | boolean | undefined,
  command: readonly string[],
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch {
    throw new UsageError('--metadata must be a JSON object, e.g. --metadata \'{"user":"ann"}\'', command);
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string')
  ) {
    throw new UsageError(
      '--metadata must be a JSON object of string values, e.g. --metadata \'{"user":"ann"}\'',
      command,
    );
  }
  return parsed as Record<string, string>;
}

/** The input of `threads send`: the argument, or with "-" all of stdin (one trailing newline dropped). */
export async function readTurnInput(
  ctx: Pick<CommandContext, 'io'>,
  argument: string,
  command: readonly string[],
): Promise<string> {
  let input = argument;
  if (argument === '-') {
    if (ctx.io.stdin.isTTY)
      throw new UsageError(
        '"-" reads the message from stdin, which is a terminal: pipe it in, or give the message as an argument',
        command,
      );
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.io.stdin as AsyncIterable<Buffer | string>)
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    input = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  if (input.trim().length === 0)
    throw new UsageError(argument === '-' ? 'the message from stdin is empty' : 'the message is empty', command);
  return input;
}
