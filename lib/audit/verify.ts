import { type AuditEntry, entryHash, GENESIS_HASH } from './chain.js';

/**
 * What can be wrong with a chain: an entry whose contents no longer match its hash (`modified`),
 * entries that are gone (`missing`: a gap, or a tail cut off below the head), entries stored at
 * another entry's position (`reordered`: e.g. two swapped), and a link that does not hold
 * (`relinked`: an entry's prevHash is not the hash of the entry before it, or the chain does not
 * end at the hash its head records — what a rewrite that recomputed a hash leaves behind), and
 * entries stored past the head (`beyond_head`: appended without moving the head, e.g. forged).
 */
export type ChainProblemKind = 'modified' | 'missing' | 'reordered' | 'relinked' | 'beyond_head';

/** One problem of a chain, pinpointed by seq. Never carries an entry's contents. */
export interface ChainProblem {
  kind: ChainProblemKind;
  /** The first seq concerned. */
  seq: number;
  /** missing: the last absent seq (seq..lastSeq are absent); beyond_head: the last seq stored past the head. */
  lastSeq?: number;
  /** reordered: every position (seq) that holds another entry. */
  seqs?: number[];
  message: string;
}

/** The head of a chain as recorded on its head item: the last seq appended and its hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** What a verification knows besides the entries. */
export interface VerifyOptions {
  /** The chain the entries must belong to. */
  chain?: string;
  /** The head recorded for the chain, when it has one: entries up to it must all be there. */
  head?: ChainHead;
  /**
   * The seq past which a stored entry is `beyond_head`: the head as re-read after the entries, so an
   * append that landed between the first head read and the entries is not one. Default: head.seq;
   * Infinity when the chain lost its head meanwhile (nothing to bound it by).
   */
  bound?: number;
  /**
   * The seq each entry's key places it at (parallel to the entries). Without it the storage order
   * stands in: the i-th entry is expected to be the i-th smallest seq.
   */
  slots?: readonly number[];
}

interface Placed {
  /** The position the entry is stored at. */
  slot: number;
  /** The position it belongs at: its own seq, or its slot when its contents cannot be trusted. */
  seq: number;
  entry: AuditEntry;
  intact: boolean;
}

/**
 * Every problem of one chain, each pinpointed, ordered by seq; empty when the chain is intact.
 *
 * Entries are first put back in the order their own (verified) seqs give, so a reordering is
 * reported once, where it happened, and the links are then checked in that order: a swap of two
 * entries is one `reordered` problem naming both positions, not a cascade of broken links. A
 * deleted entry is one `missing` range: the link across a gap is not checked (the entry it would
 * name is gone). A modified entry whose hash was kept is one `modified` problem (its successor still
 * links to the stored hash).
 */
export function verifyAuditChain(entries: readonly AuditEntry[], options: VerifyOptions = {}): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const positions = options.slots ?? [...entries].map((e) => e.seq).sort((a, b) => a - b);
  const placed: Placed[] = entries.map((entry, i) => {
    const slot = positions[i] ?? entry.seq;
    const { hash, ...rest } = entry;
    const foreign = options.chain !== undefined && entry.chain !== options.chain;
    const intact = !foreign && Number.isSafeInteger(entry.seq) && entryHash(rest) === hash;
    if (!intact) {
      problems.push({
        kind: 'modified',
        seq: slot,
        message: foreign
          ? `the entry at seq ${slot} belongs to another chain`
          : `the entry at seq ${slot} does not match its hash`,
      });
    }
    return { slot, seq: intact ? entry.seq : slot, entry, intact };
  });

  problems.push(...misplaced(placed));

  // The links, in the order the entries' own seqs give.
  const ordered = [...placed].sort((a, b) => a.seq - b.seq || a.slot - b.slot);
  let prev: ChainHead = { seq: 0, hash: GENESIS_HASH };
  // The link after an entry already reported as modified tells nothing more: its stored hash is
  // as untrustworthy as its contents.
  let prevIntact = true;
  for (const item of ordered) {
    if (item.seq === prev.seq) {
      // A second copy of an entry: where it sits in another entry's position it is reported as misplaced.
      if (item.intact && item.seq === item.slot)
        problems.push({
          kind: 'reordered',
          seq: item.seq,
          seqs: [item.seq],
          message: `the entry of seq ${item.seq} is stored twice`,
        });
      continue;
    }
    if (item.seq > prev.seq + 1) {
      problems.push(
        missing(
          prev.seq + 1,
          item.seq - 1,
          `entr${item.seq - 1 > prev.seq + 1 ? 'ies' : 'y'} ${range(prev.seq + 1, item.seq - 1)} missing`,
        ),
      );
    } else if (item.intact && prevIntact && item.entry.prevHash !== prev.hash) {
      problems.push({
        kind: 'relinked',
        seq: item.seq,
        message: `the entry at seq ${item.seq} does not link to seq ${prev.seq} (one of them was rewritten)`,
      });
    }
    prev = { seq: item.seq, hash: item.entry.hash };
    prevIntact = item.intact;
  }

  // Against the head: nothing recorded may be missing at the end, and the chain must reach its hash.
  const head = options.head;
  if (head) {
    // Past the head: an entry nobody appended through the head (a legitimate append moves it in the
    // same transaction), pinpointed by the position its key gives it.
    const bound = options.bound ?? head.seq;
    const beyond = placed.map((item) => item.slot).filter((slot) => slot > bound);
    if (beyond.length > 0) {
      const first = beyond.reduce((a, b) => Math.min(a, b));
      const last = beyond.reduce((a, b) => Math.max(a, b));
      problems.push({
        kind: 'beyond_head',
        seq: first,
        lastSeq: last,
        message: `entr${last > first ? 'ies' : 'y'} ${range(first, last)} stored past the head (seq ${bound})`,
      });
    }
  }
  if (head && head.seq > 0) {
    if (prev.seq < head.seq) {
      problems.push(
        missing(
          prev.seq + 1,
          head.seq,
          `entr${head.seq > prev.seq + 1 ? 'ies' : 'y'} ${range(prev.seq + 1, head.seq)} missing: the head records seq ${head.seq}, the chain ends at ${prev.seq}`,
        ),
      );
    } else {
      const atHead = ordered.find((item) => item.seq === head.seq);
      if (atHead && atHead.entry.hash !== head.hash) {
        problems.push({
          kind: 'relinked',
          seq: head.seq,
          message: `the entry at seq ${head.seq} does not match the hash its head records`,
        });
      }
    }
  }
  return problems.sort((a, b) => a.seq - b.seq);
}

/** Entries stored where another entry belongs, grouped into the permutations they form (a swap is one group of two). */
function misplaced(placed: readonly Placed[]): ChainProblem[] {
  const moved = placed.filter((item) => item.intact && item.seq !== item.slot);
  if (moved.length === 0) return [];
  // Union-find over positions: a slot holding seq N is joined with slot N.
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  for (const item of moved) {
    if (!parent.has(item.slot)) parent.set(item.slot, item.slot);
    if (!parent.has(item.seq)) parent.set(item.seq, item.seq);
    parent.set(find(item.slot), find(item.seq));
  }
  const groups = new Map<number, Placed[]>();
  for (const item of moved) groups.set(find(item.slot), [...(groups.get(find(item.slot)) ?? []), item]);
  return [...groups.values()].map((group) => {
    const seqs = group.map((item) => item.slot).sort((a, b) => a - b);
    const [a, b] = group;
    const swapped = group.length === 2 && a!.seq === b!.slot && b!.seq === a!.slot;
    const message = swapped
      ? `the entries at seq ${seqs[0]} and ${seqs[1]} are swapped`
      : `entries out of order: ${group
          .sort((x, y) => x.slot - y.slot)
          .map((item) => `seq ${item.slot} holds the entry of seq ${item.seq}`)
          .join(', ')}`;
    return { kind: 'reordered' as const, seq: seqs[0]!, seqs, message };
  });
}

function missing(first: number, last: number, message: string): ChainProblem {
  return { kind: 'missing', seq: first, lastSeq: last, message };
}

function range(first: number, last: number): string {
  return first === last ? `${first} is` : `${first}–${last} are`;
}

/**
 * The first problem of a chain (in seq order), or undefined when every entry is intact and links to
 * the one before it. `verifyAuditChain` reports every problem, classified.
 */
export function verifyChain(
  entries: AuditEntry[],
  head?: { seq: number; hash: string },
): { seq: number; problem: string } | undefined {
  const [first] = verifyAuditChain(entries, head ? { head } : {});
  return first && { seq: first.seq, problem: first.message };
}
