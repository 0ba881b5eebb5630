import { describe, expect, it } from 'vitest';
import { chainEntry, GENESIS_HASH, verifyChain, type AuditEntry } from '../../lib/audit/chain.js';

const event = (n: number) => ({ type: 'thread_restart' as const, at: `2026-01-01T00:00:0${n}.000Z`, sessionKey: 's', data: { n } });

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

describe('audit hash chain', () => {
  it('links each entry to the previous one', () => {
    const entries = chainOf(4);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
    expect(verifyChain(entries)).toBeUndefined();
  });

  it('pinpoints a modified, a deleted and a swapped entry', () => {
    const modified = chainOf(4);
    modified[2] = { ...modified[2]!, data: { n: 99 } };
    expect(verifyChain(modified)).toEqual({ seq: 3, problem: 'content does not match its hash' });

    const deleted = chainOf(4);
    deleted.splice(1, 1);
    expect(verifyChain(deleted)).toEqual({ seq: 3, problem: 'expected seq 2' });

    const swapped = chainOf(4);
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(verifyChain(swapped)?.seq).toBe(3);
  });

  it('does not depend on the order of object keys', () => {
    const [a] = chainOf(1);
    const reordered = JSON.parse(JSON.stringify({ data: a!.data, hash: a!.hash, ...a })) as AuditEntry;
    expect(verifyChain([reordered])).toBeUndefined();
  });
});
