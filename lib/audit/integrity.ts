import type { AuditEntry } from './chain.js';
import { verifyAuditChain, type ChainHead, type ChainProblem } from './verify.js';

/** Where one audit chain lives: its partition and its name (a threadId, `secret:<name>`, `agent:<name>`). */
export interface ChainRef {
  partition: string;
  chain: string;
}

/** One chain as stored, read for verification. */
export interface StoredChain extends ChainRef {
  /** Every entry, in key order. */
  entries: AuditEntry[];
  /** The seq each entry's key places it at (parallel to entries). */
  slots: number[];
  /** The head recorded for the chain; none for a chain that no longer has one (an old thread incarnation). */
  head?: ChainHead;
}

/** Every audit chain of the store, enumerated one bounded page at a time. */
export interface AuditChainSource {
  /**
   * The chains of the next page after `cursor` (none: the first page). Over a whole walk each chain
   * is returned by exactly one page; the cursor is absent after the last page.
   */
  discover(cursor?: string): Promise<{ chains: ChainRef[]; cursor?: string }>;
  /** One chain: its head is read before its entries, so an append during the read never looks like a gap. */
  read(ref: ChainRef): Promise<StoredChain>;
}

/** The verdict on one chain. Carries seqs and hashes only, never an entry's contents. */
export interface ChainReport extends ChainRef {
  /** How many entries were read. */
  entries: number;
  head?: ChainHead;
  ok: boolean;
  problems: ChainProblem[];
}

/** One call's share of a walk over every chain. */
export interface VerifyPage {
  chains: ChainReport[];
  /** Where the next call continues; absent when the walk is complete. */
  cursor?: string;
}

/** How much one call may do: it starts no new page once either bound is reached. */
export interface VerifyBudget {
  /** Milliseconds of work after which no further page is started. */
  timeMs: number;
  /** Chains after which no further page is started (bounds the response). */
  maxChains: number;
  /** Chains read at the same time. */
  concurrency?: number;
  now?: () => number;
}

/**
 * Verifies every chain of the next pages of a walk that starts (or continues) at `cursor`. Work is
 * bounded per call: whole pages are verified until the time or chain budget is spent, then the
 * cursor says where to continue, so a caller behind an API Gateway timeout walks the table in calls.
 */
export async function verifyAuditChains(source: AuditChainSource, cursor: string | undefined, budget: VerifyBudget): Promise<VerifyPage> {
  const now = budget.now ?? Date.now;
  const started = now();
  const chains: ChainReport[] = [];
  let next = cursor;
  do {
    const page = await source.discover(next);
    chains.push(...(await mapLimited(page.chains, budget.concurrency ?? 8, async (ref) => report(await source.read(ref)))));
    next = page.cursor;
  } while (next !== undefined && now() - started < budget.timeMs && chains.length < budget.maxChains);
  return { chains, ...(next !== undefined ? { cursor: next } : {}) };
}

/** The verdict on one stored chain. */
export function report(stored: StoredChain): ChainReport {
  const problems = verifyAuditChain(stored.entries, { chain: stored.chain, slots: stored.slots, ...(stored.head ? { head: stored.head } : {}) });
  return {
    partition: stored.partition,
    chain: stored.chain,
    entries: stored.entries.length,
    ...(stored.head ? { head: stored.head } : {}),
    ok: problems.length === 0,
    problems,
  };
}

/** `fn` over `items`, at most `limit` at a time, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const mine = i++;
      results[mine] = await fn(items[mine]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
