import { ThreadError } from './errors.js';
import type { ThreadPosition } from './ports.js';

/** Encodes a list position as an opaque cursor. */
export function encodeCursor(position: ThreadPosition): string {
  return Buffer.from(JSON.stringify({ c: position.createdAt, k: position.sessionKey })).toString('base64url');
}

/**
 * Decodes a cursor. It carries no tenant: the store rebuilds the key under the caller's own
 * tenant, so a forged cursor can never reach another tenant's threads.
 */
export function decodeCursor(cursor: string): ThreadPosition {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { c?: unknown; k?: unknown };
    if (
      typeof value.c === 'string' &&
      typeof value.k === 'string' &&
      !Number.isNaN(Date.parse(value.c)) &&
      !/[#]/.test(value.k + value.c)
    ) {
      return { createdAt: value.c, sessionKey: value.k };
    }
  } catch {
    // fall through to the error below
  }
  throw new ThreadError('invalid_cursor', 'the cursor is not one this API returned');
}
