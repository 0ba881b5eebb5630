import type { AuditEntry } from './chain.js';
import { AuditCursorError } from './query.js';
import { type ChainHead, type ChainProblem, verifyAuditChain } from './verify.js';

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
  /** The head recorded for the chain, read before the entries; none for a chain that no longer has one (an old thread incarnation). */
  head?: ChainHead;
  /**
   * The seq past which an entry is `beyond_head`: the head re-read after the entries when some lie
   * past the first read (Infinity when the chain lost its head meanwhile). Absent: head.seq.
   */
  bound?: number;
}

/** Every audit chain of the store, enumerated one bounded page at a time. */
export interface AuditChainSource {
  /**
   * The chains of the next page after `cursor` (none: the first page). Over a whole walk each chain
   * is returned by exactly one page; the cursor is absent after the last page. The same cursor gives
   * the same page again (a walk may resume inside it).
   */
  discover(cursor?: string): Promise<{ chains: ChainRef[]; cursor?: string }>;
  /**
   * One chain: its head is read before its entries, so an append during the read never looks like a
   * gap, and re-read after them when entries lie past it, so only what is still past it is reported.
   */
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

/** How much one call may do: it starts no new chain once either bound is reached (but always at least one). */
export interface VerifyBudget {
  /** Milliseconds of work after which no further chain is started. */
  timeMs: number;
  /** Chains after which no further chain is started (bounds the response). */
  maxChains: number;
  /** Chains read at the same time. */
  concurrency?: number;
  now?: () => number;
}

/** Where a walk continues: a page of the source, and within it the last chain already verified. */
interface WalkCursor {
  page?: string;
  after?: string;
}

/**
 * Verifies the chains of a walk that starts (or continues) at `cursor`. Work is bounded per chain,
 * not per page: one page can own hundreds of chains, so a call may stop inside a page and its cursor
 * says so (the page's own cursor plus the last chain done, in a stable order); a caller behind an
 * API Gateway timeout walks the table in calls, and every call makes progress.
 */
export async function verifyAuditChains(
  source: AuditChainSource,
  cursor: string | undefined,
  budget: VerifyBudget,
): Promise<VerifyPage> {
  const now = budget.now ?? Date.now;
  const started = now();
  const chains: ChainReport[] = [];
  let { page: pageCursor, after } = decodeCursor(cursor);
  let progressed = false;
  let taken = 0;
  const spent = () => now() - started >= budget.timeMs || taken >= budget.maxChains;
  for (;;) {
    const page = await source.discover(pageCursor);
    // Sorted, so that a walk resuming inside this page skips exactly the chains already done.
    const todo = page.chains
      .map((ref) => ({ ref, id: chainId(ref) }))
      .filter((item) => after === undefined || item.id > after)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Chains are taken in order and every taken one finishes, so what is done is a prefix of todo.
    const done = await mapWhile(
      todo,
      budget.concurrency ?? 8,
      () => !(progressed && spent()),
      async ({ ref }) => {
        progressed = true;
        taken += 1;
        return report(await source.read(ref));
      },
    );
    chains.push(...done);
    if (done.length < todo.length)
      return {
        chains,
        cursor: encodeCursor({
          ...(pageCursor !== undefined ? { page: pageCursor } : {}),
          ...(done.length > 0 ? { after: todo[done.length - 1]!.id } : after !== undefined ? { after } : {}),
        }),
      };
    if (page.cursor === undefined) return { chains };
    pageCursor = page.cursor;
    after = undefined;
    progressed = true;
    if (spent()) return { chains, cursor: encodeCursor({ page: pageCursor }) };
  }
}

/** The verdict on one stored chain. */
export function report(stored: StoredChain): ChainReport {
  const problems = verifyAuditChain(stored.entries, {
    chain: stored.chain,
    slots: stored.slots,
    ...(stored.head ? { head: stored.head } : {}),
    ...(stored.bound !== undefined ? { bound: stored.bound } : {}),
  });
  return {
    partition: stored.partition,
    chain: stored.chain,
    entries: stored.entries.length,
    ...(stored.head ? { head: stored.head } : {}),
    ok: problems.length === 0,
    problems,
  };
}

/**
 * `fn` over a prefix of `items`, at most `limit` at a time, results in input order: no further item
 * is started once `more()` says no (the ones already started finish).
 */
async function mapWhile<T, R>(
  items: readonly T[],
  limit: number,
  more: () => boolean,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let i = 0;
  const worker = async () => {
    while (i < items.length && more()) {
      const mine = i++;
      results[mine] = await fn(items[mine]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results.slice(0, i);
}

function chainId(ref: ChainRef): string {
  return `${ref.partition}\n${ref.chain}`;
}

function encodeCursor(cursor: WalkCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(cursor: string | undefined): WalkCursor {
  if (cursor === undefined) return {};
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    const valid = (field: unknown) => field === undefined || (typeof field === 'string' && field !== '');
    if (value && typeof value === 'object' && valid(value.page) && valid(value.after)) {
      return {
        ...(typeof value.page === 'string' ? { page: value.page } : {}),
        ...(typeof value.after === 'string' ? { after: value.after } : {}),
      };
    }
  } catch {
    // fall through
  }
  throw new AuditCursorError('the cursor is not one this API returned');
}
