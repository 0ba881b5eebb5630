import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CliError } from './errors.js';
import type { CliIo } from './io.js';

/** Secrets Manager's limit on a SecretString. */
export const MAX_SECRET_BYTES = 65_536;

/**
 * A secret value from a file (--file PATH) or else from stdin, which must not be a terminal (the
 * value would be echoed and land in the scrollback): `pipe it in`. One trailing newline (what
 * `echo` and editors add) is dropped. The value is never part of any message.
 */
export async function readSecretValue(
  io: CliIo,
  cwd: string,
  file: string | undefined,
): Promise<{ value: string; from: string }> {
  let raw: string;
  let from: string;
  if (file !== undefined) {
    if (file === '') throw new CliError('no_value', '--file needs a path');
    const path = resolve(cwd, file);
    try {
      raw = await readFile(path, 'utf8');
    } catch (error) {
      throw new CliError(
        'no_value',
        `cannot read --file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
    from = path;
  } else {
    if (io.stdin.isTTY) {
      throw new CliError(
        'stdin_is_a_terminal',
        'the secret value is read from stdin or --file, and stdin is a terminal: pipe it in (e.g. `pbpaste | threadbound secrets create NAME`, `threadbound secrets create NAME < key.txt`) or pass --file PATH',
      );
    }
    raw = await readStream(io.stdin);
    from = 'stdin';
  }
  const value = raw.endsWith('\r\n') ? raw.slice(0, -2) : raw.endsWith('\n') ? raw.slice(0, -1) : raw;
  if (value.length === 0) throw new CliError('no_value', `the secret value from ${from} is empty`);
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES)
    throw new CliError(
      'value_too_large',
      `the secret value from ${from} is larger than ${MAX_SECRET_BYTES} bytes (Secrets Manager's limit)`,
    );
  return { value, from };
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    size += buffer.length;
    // Stop early on something far too large (a file piped by mistake); the exact check comes after.
    if (size > MAX_SECRET_BYTES + 2)
      throw new CliError(
        'value_too_large',
        `the secret value from stdin is larger than ${MAX_SECRET_BYTES} bytes (Secrets Manager's limit)`,
      );
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
