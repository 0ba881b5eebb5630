/**
 * Named counters the instrumentation adds to (DynamoDB requests and request units, Lambda
 * invocations and durations, state transitions, secret fetches). A scenario takes a snapshot
 * before and after its turns and divides the difference by the number of turns.
 */
export class Meter {
  private readonly counts = new Map<string, number>();

  /** Adds `n` (default 1) to a counter. */
  add(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  /** A copy of every counter. */
  snapshot(): Counters {
    return new Map(this.counts);
  }

  /** Counter by counter, what happened since `before` (counters that did not move are left out). */
  since(before: Counters): Counters {
    const delta = new Map<string, number>();
    for (const [name, value] of this.counts) {
      const moved = value - (before.get(name) ?? 0);
      if (moved !== 0) delta.set(name, moved);
    }
    return delta;
  }
}

/** A set of counters by name. */
export type Counters = Map<string, number>;

/** The sum of the counters under `prefix.` whose remaining name ends with `suffix`, divided by `per`. */
export function sumOf(counters: Counters, prefix: string, suffix = '', per = 1): number {
  let total = 0;
  for (const [name, value] of counters) if (name.startsWith(`${prefix}.`) && name.endsWith(suffix)) total += value;
  return total / per;
}
