import { describe, expect, it } from 'vitest';
import { type AuditEntry, chainEntry, entryHash, GENESIS_HASH } from '../../lib/audit/chain.js';
import { verifyAuditChain, verifyChain } from '../../lib/audit/verify.js';

const event = (n: number) => ({
  type: 'thread_restart' as const,
  at: `2026-01-01T00:00:${String(n).padStart(2, '0')}.000Z`,
  sessionKey: 's',
  data: { n },
});

function chainOf(length: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let head = { seq: 0, hash: GENESIS_HASH };
  for (let n = 1; n <= length; n += 1) {
    const entry = chainEntry('thr_1', head, event(n));
    entries.push(entry);
    head = entry;
  }
  return entries;
}

const slotsOf = (entries: AuditEntry[]) => entries.map((_, i) => i + 1);
const headOf = (entries: AuditEntry[]) => ({ seq: entries.at(-1)!.seq, hash: entries.at(-1)!.hash });
const kinds = (problems: { kind: string; seq: number }[]) => problems.map((p) => `${p.kind}@${p.seq}`);

describe('audit hash chain', () => {
  it('links each entry to the previous one', () => {
    const entries = chainOf(4);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
    expect(verifyChain(entries)).toBeUndefined();
    expect(verifyAuditChain(entries, { chain: 'thr_1', head: headOf(entries), slots: slotsOf(entries) })).toEqual([]);
  });

  it('verifyChain still answers the first problem, pinpointed', () => {
    const modified = chainOf(4);
    modified[2] = { ...modified[2]!, data: { n: 99 } };
    expect(verifyChain(modified)).toEqual({ seq: 3, problem: 'the entry at seq 3 does not match its hash' });

    const deleted = chainOf(4);
    deleted.splice(1, 1);
    expect(verifyChain(deleted)).toEqual({ seq: 2, problem: 'entry 2 is missing' });

    const truncated = chainOf(4);
    expect(verifyChain(truncated.slice(0, 3), headOf(truncated))).toEqual({
      seq: 4,
      problem: 'entry 4 is missing: the head records seq 4, the chain ends at 3',
    });
  });

  it('does not depend on the order of object keys', () => {
    const [a] = chainOf(1);
    const reordered = JSON.parse(JSON.stringify({ data: a!.data, hash: a!.hash, ...a })) as AuditEntry;
    expect(verifyChain([reordered])).toBeUndefined();
  });
});

describe('verifyAuditChain classifies every problem, each once', () => {
  it('modified contents with the hash kept: only that seq', () => {
    const entries = chainOf(6);
    entries[2] = { ...entries[2]!, data: { n: 99 } };
    expect(verifyAuditChain(entries, { chain: 'thr_1', head: headOf(entries), slots: slotsOf(entries) })).toEqual([
      { kind: 'modified', seq: 3, message: 'the entry at seq 3 does not match its hash' },
    ]);
  });

  it('modified contents with the hash recomputed: the broken link after it', () => {
    const entries = chainOf(5);
    const { hash: _old, ...rest } = { ...entries[1]!, data: { n: 42 } };
    entries[1] = { ...rest, hash: entryHash(rest) };
    expect(kinds(verifyAuditChain(entries, { head: headOf(entries), slots: slotsOf(entries) }))).toEqual([
      'relinked@3',
    ]);
    // The last entry rewritten: its head no longer matches.
    const last = chainOf(3);
    const head = headOf(last);
    const { hash: _h, ...tail } = { ...last[2]!, data: { n: 7 } };
    last[2] = { ...tail, hash: entryHash(tail) };
    expect(kinds(verifyAuditChain(last, { head }))).toEqual(['relinked@3']);
  });

  it('a deleted middle entry: one missing range, no broken link after it', () => {
    const entries = chainOf(6);
    const slots = slotsOf(entries);
    entries.splice(2, 2);
    slots.splice(2, 2);
    expect(verifyAuditChain(entries, { head: { seq: 6, hash: chainOf(6)[5]!.hash }, slots })).toEqual([
      { kind: 'missing', seq: 3, lastSeq: 4, message: 'entries 3–4 are missing' },
    ]);
    // Without slots (storage order only) the same.
    expect(kinds(verifyAuditChain(entries))).toEqual(['missing@3']);
  });

  it('a truncated tail is missing against the head; without a head it cannot be seen', () => {
    const entries = chainOf(5);
    const head = headOf(entries);
    expect(verifyAuditChain(entries.slice(0, 3), { head })).toEqual([
      {
        kind: 'missing',
        seq: 4,
        lastSeq: 5,
        message: 'entries 4–5 are missing: the head records seq 5, the chain ends at 3',
      },
    ]);
    expect(verifyAuditChain(entries.slice(0, 3))).toEqual([]);
    expect(kinds(verifyAuditChain([], { head }))).toEqual(['missing@1']);
  });

  it('entries past the head are beyond_head unless the re-read head reaches them', () => {
    const entries = chainOf(5);
    const head = { seq: 3, hash: entries[2]!.hash };
    // Linked correctly, but never appended through the head: pinpointed as one range.
    expect(verifyAuditChain(entries, { head, slots: slotsOf(entries) })).toEqual([
      { kind: 'beyond_head', seq: 4, lastSeq: 5, message: 'entries 4–5 are stored past the head (seq 3)' },
    ]);
    // Appended between the head read and the entries read: the re-read head covers them.
    expect(verifyAuditChain(entries, { head, bound: 5 })).toEqual([]);
    expect(kinds(verifyAuditChain(entries, { head, bound: 4 }))).toEqual(['beyond_head@5']);
    // The chain lost its head meanwhile: nothing to bound it by.
    expect(verifyAuditChain(entries, { head, bound: Infinity })).toEqual([]);
  });

  it('two swapped entries (keys kept): one reordered problem naming both seqs', () => {
    for (const [i, j] of [
      [1, 2],
      [1, 4],
      [0, 5],
    ] as const) {
      const entries = chainOf(6);
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
      const problems = verifyAuditChain(entries, { chain: 'thr_1', head: headOf(chainOf(6)), slots: slotsOf(entries) });
      expect(problems).toEqual([
        {
          kind: 'reordered',
          seq: i + 1,
          seqs: [i + 1, j + 1],
          message: `the entries at seq ${i + 1} and ${j + 1} are swapped`,
        },
      ]);
      // From the storage order alone the same.
      expect(verifyAuditChain(entries)).toEqual(problems);
    }
  });

  it('a rotation of three and an independent swap: one problem each', () => {
    const entries = chainOf(9);
    const [e2, e3, e4] = [entries[1]!, entries[2]!, entries[3]!];
    [entries[1], entries[2], entries[3]] = [e4, e2, e3];
    [entries[6], entries[7]] = [entries[7]!, entries[6]!];
    const problems = verifyAuditChain(entries, { slots: slotsOf(entries) });
    expect(problems.map((p) => [p.kind, p.seqs])).toEqual([
      ['reordered', [2, 3, 4]],
      ['reordered', [7, 8]],
    ]);
    expect(problems[0]!.message).toBe(
      'entries out of order: seq 2 holds the entry of seq 4, seq 3 holds the entry of seq 2, seq 4 holds the entry of seq 3',
    );
  });

  it('a copy of an entry over another: that position, and the entry it replaced is missing', () => {
    const entries = chainOf(5);
    entries[3] = entries[1]!; // slot 4 holds entry 2
    expect(kinds(verifyAuditChain(entries, { slots: slotsOf(entries), head: headOf(chainOf(5)) }))).toEqual([
      'reordered@4',
      'missing@4',
    ]);
    // Stored twice, seen from the storage order only.
    const doubled = chainOf(3);
    doubled.splice(2, 0, doubled[1]!);
    expect(kinds(verifyAuditChain(doubled))).toEqual(['reordered@2']);
  });

  it('an entry of another chain is modified at its position', () => {
    const entries = chainOf(3);
    const other = chainEntry('thr_2', { seq: 1, hash: entries[0]!.hash }, event(2));
    entries[1] = other;
    expect(verifyAuditChain(entries, { chain: 'thr_1', slots: slotsOf(entries) })).toEqual([
      { kind: 'modified', seq: 2, message: 'the entry at seq 2 belongs to another chain' },
    ]);
  });

  it('several problems at once are all reported, in seq order', () => {
    const entries = chainOf(10);
    const head = headOf(entries);
    const slots = slotsOf(entries);
    entries[1] = { ...entries[1]!, at: '2030-01-01T00:00:00.000Z' }; // 2 modified
    [entries[4], entries[5]] = [entries[5]!, entries[4]!]; // 5 and 6 swapped
    entries.splice(7, 1); // 8 deleted
    slots.splice(7, 1);
    entries.pop(); // 10 deleted (the tail)
    slots.pop();
    expect(kinds(verifyAuditChain(entries, { head, slots }))).toEqual([
      'modified@2',
      'reordered@5',
      'missing@8',
      'missing@10',
    ]);
  });
});
