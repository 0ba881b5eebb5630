import { INDEX_SHARDS, TABLE } from '../adapters/dynamodb/table-definition.js';
import type { LiveCursor } from '../threads/ports.js';
import type { SweepCursor } from './ports.js';

/** The attributes of a legacy position (the index key itself): the table's key and the index's key. */
const KEY_ATTRIBUTES = [
  TABLE.partitionKey,
  TABLE.sortKey,
  TABLE.indexes.activeByLastActive.partitionKey,
  TABLE.indexes.activeByLastActive.sortKey,
].sort();

/** A walk's position, and when the run it continues began (a continued run keeps its first call's start). */
export interface WalkPosition extends SweepCursor {
  startedAt?: string;
}

/** Encodes a walk's position as an opaque cursor (like the thread list's cursors). */
export function encodeSweepCursor(cursor: WalkPosition): string {
  return Buffer.from(
    JSON.stringify({
      s: cursor.shard,
      ...(cursor.key ? { k: cursor.key } : {}),
      ...(cursor.startedAt ? { t: cursor.startedAt } : {}),
    }),
  ).toString('base64url');
}

/** The longest store cursor a walk position may carry (a store's cursors are far shorter). */
const MAX_LIVE_CURSOR = 4096;

/**
 * Decodes a cursor encodeSweepCursor made; undefined for anything else. The store's cursor inside is
 * opaque here (the store starts the shard over on one it cannot read); a legacy index key is checked
 * down to its shape (exactly the index's attributes, strings, in the cursor's shard), as it always was.
 */
export function decodeSweepCursor(cursor: string): WalkPosition | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      s?: unknown;
      k?: unknown;
      t?: unknown;
    };
    if (
      typeof value !== 'object' ||
      value === null ||
      !Number.isInteger(value.s) ||
      (value.s as number) < 0 ||
      (value.s as number) >= INDEX_SHARDS
    )
      return undefined;
    const shard = value.s as number;
    if (
      value.t !== undefined &&
      (typeof value.t !== 'string' || Number.isNaN(Date.parse(value.t)) || new Date(value.t).toISOString() !== value.t)
    )
      return undefined;
    const since = typeof value.t === 'string' ? { startedAt: value.t } : {};
    if (value.k === undefined) return { shard, ...since };
    if (typeof value.k === 'string')
      return value.k.length > 0 && value.k.length <= MAX_LIVE_CURSOR ? { shard, key: value.k, ...since } : undefined;
    if (typeof value.k !== 'object' || value.k === null || Array.isArray(value.k)) return undefined;
    const key = value.k as Record<string, unknown>;
    const names = Object.keys(key).sort();
    if (names.length !== KEY_ATTRIBUTES.length || names.some((name, i) => name !== KEY_ATTRIBUTES[i])) return undefined;
    if (!Object.values(key).every((v) => typeof v === 'string' && v.length > 0 && v.length <= 1024)) return undefined;
    // A key of another shard's partition would make DynamoDB refuse the query.
    if (key[TABLE.indexes.activeByLastActive.partitionKey] !== `ACTIVE#${shard}`) return undefined;
    return { shard, key, ...since };
  } catch {
    return undefined;
  }
}

/**
 * The store cursor a position resumes from. A legacy position holds the DynamoDB index key itself,
 * and that adapter's cursor is the JSON text of the key (lib/adapters/dynamodb/live-thread-index.ts),
 * so such a position resumes exactly where it was.
 */
export function resumeCursor(position: SweepCursor): LiveCursor | undefined {
  if (position.key === undefined || typeof position.key === 'string') return position.key;
  return JSON.stringify(position.key);
}
