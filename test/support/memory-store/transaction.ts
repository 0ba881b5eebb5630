/** One item of a memory transaction: its key, its condition and its write. */
export interface Operation {
  pk: string;
  sk: string;
  /** The item's condition, read before anything is written; absent means unconditional. */
  check?: () => boolean;
  apply: () => void;
}

/** Outcome of a transaction: committed, or cancelled with the index of each failed condition. */
export type MemoryOutcome = { ok: true } | { ok: false; failedConditions: number[] };

/**
 * TransactWriteItems in memory: every condition is checked against the same state, then either
 * every write lands or none does. Like DynamoDB, it refuses two operations on one item and more
 * than 100 operations (a ValidationException there, a thrown error here).
 */
export function transact(operations: Operation[]): MemoryOutcome {
  if (operations.length > 100) throw new Error('ValidationException: a transaction holds at most 100 items');
  const seen = new Set<string>();
  for (const { pk, sk } of operations) {
    const key = `${pk}\u0000${sk}`;
    if (seen.has(key))
      throw new Error('ValidationException: Transaction request cannot include multiple operations on one item');
    seen.add(key);
  }
  const failedConditions = operations.flatMap((operation, index) =>
    operation.check && !operation.check() ? [index] : [],
  );
  if (failedConditions.length > 0) return { ok: false, failedConditions };
  for (const operation of operations) operation.apply();
  return { ok: true };
}
