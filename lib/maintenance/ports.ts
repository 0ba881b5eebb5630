import type { LiveCursor } from '../threads/ports.js';

/** Where a maintenance job keeps its place between bounded runs. */
export interface CursorStore {
  get(job: string): Promise<SweepCursor | undefined>;
  put(job: string, cursor: SweepCursor | undefined): Promise<void>;
}

/**
 * The index key a position held before live cursors were opaque. Positions stored or handed out
 * then (a maintenance job's cursor, a restart's nextCursor) are still read; none is written any more.
 */
export type LegacyIndexKey = Record<string, unknown>;

/** A position in the sharded live-thread index. */
export interface SweepCursor {
  shard: number;
  /** Where the walk resumes in the shard: the store's cursor (or, from an older position, the index key). */
  key?: LiveCursor | LegacyIndexKey;
}
