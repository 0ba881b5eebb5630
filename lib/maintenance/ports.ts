/** Where a maintenance job keeps its place between bounded runs. */
export interface CursorStore {
  get(job: string): Promise<SweepCursor | undefined>;
  put(job: string, cursor: SweepCursor | undefined): Promise<void>;
}

/** A position in the sharded live-thread index. */
export interface SweepCursor {
  shard: number;
  key?: Record<string, unknown>;
}
