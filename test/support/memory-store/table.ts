import { processRedactor } from '../../../lib/secrets/redactor.js';

/** A stored item: the domain object plus the `kind` the DynamoDB items carry. */
export type Item = Record<string, unknown>;

/**
 * The single table in memory: partitions by pk, items by sk, with the DynamoDB adapter's key
 * builders, so sort orders and prefixes are the table's own. Items are copied in and out as the
 * document client marshals them (undefined attributes dropped, secrets redacted), so a caller
 * never shares an object with the store.
 */
export class MemoryTable {
  private readonly partitions = new Map<string, Map<string, Item>>();

  get(pk: string, sk: string): Item | undefined {
    const item = this.partitions.get(pk)?.get(sk);
    return item === undefined ? undefined : marshal(item);
  }

  put(pk: string, sk: string, item: Item): void {
    let partition = this.partitions.get(pk);
    if (!partition) {
      partition = new Map();
      this.partitions.set(pk, partition);
    }
    partition.set(sk, marshal(item));
  }

  delete(pk: string, sk: string): void {
    this.partitions.get(pk)?.delete(sk);
  }

  /** The items of a partition whose sk `select` picks, in sk order (descending with `backward`). */
  query(pk: string, select: (sk: string) => boolean, backward = false): { sk: string; item: Item }[] {
    const found = [...(this.partitions.get(pk) ?? new Map<string, Item>())]
      .filter(([sk]) => select(sk))
      .sort(([a], [b]) => compare(a, b))
      .map(([sk, item]) => ({ sk, item: marshal(item) }));
    return backward ? found.reverse() : found;
  }

  /** Every item of the table with its key (a Scan). */
  scan(): { pk: string; sk: string; item: Item }[] {
    return [...this.partitions].flatMap(([pk, items]) =>
      [...items].map(([sk, item]) => ({ pk, sk, item: marshal(item) })),
    );
  }
}

/** Orders strings by code unit, as DynamoDB orders string keys (UTF-8 bytes agree for the keys used here). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The object without its `kind`: what the DynamoDB adapter's stripKeys returns. */
export function stripKind<T>(item: Item): T {
  const { kind: _kind, ...rest } = item;
  return rest as T;
}

function marshal(item: Item): Item {
  return JSON.parse(JSON.stringify(processRedactor.redactDeep(item))) as Item;
}
