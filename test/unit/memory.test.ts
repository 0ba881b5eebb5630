import { describe, expect, it } from 'vitest';
import type { Thread } from '../../lib/threads/model.js';
import type { ThreadStore } from '../../lib/threads/ports.js';
import { loadMemory } from '../../lib/turns/memory.js';
import type { Message } from '../../lib/turns/model.js';

const now = new Date('2026-06-01T12:00:00Z');
const minutesAgo = (n: number) => new Date(now.getTime() - n * 60_000).toISOString();
const history: Message[] = Array.from({ length: 10 }, (_, i) => ({
  seq: i + 1,
  role: i % 2 === 0 ? 'user' : 'assistant',
  content: `message ${i + 1} `.padEnd(20, '.'),
  turnId: `turn_${Math.floor(i / 2)}`,
  agent: 'data',
  createdAt: minutesAgo(100 - i * 10),
}));
// Only latestMessages is used: newest first, after the floor, at most `limit`.
const store = {
  latestMessages: async (_t: string, _k: string, floor: number, limit: number) =>
    history
      .filter((m) => m.seq > floor)
      .reverse()
      .slice(0, limit),
} as unknown as ThreadStore;
const thread = { tenant: 't', sessionKey: 'k', memoryFloorSeq: 0 } as Thread;
const seqs = (messages: Message[]) => messages.map((m) => m.seq);

describe('memory window', () => {
  it('keeps the newest maxTurns exchanges, oldest first', async () => {
    expect(seqs(await loadMemory(store, thread, { maxTurns: 2, maxAge: '1d', maxBytes: 10_000 }, now))).toEqual([
      7, 8, 9, 10,
    ]);
  });

  it('drops messages older than maxAge', async () => {
    expect(seqs(await loadMemory(store, thread, { maxTurns: 50, maxAge: '35m', maxBytes: 10_000 }, now))).toEqual([
      8, 9, 10,
    ]);
  });

  it('stops at maxBytes, keeping the newest', async () => {
    expect(seqs(await loadMemory(store, thread, { maxTurns: 50, maxAge: '1d', maxBytes: 60 }, now))).toEqual([
      8, 9, 10,
    ]);
  });

  it('starts after the memory floor and leaves out the current input', async () => {
    expect(
      seqs(
        await loadMemory(
          store,
          { ...thread, memoryFloorSeq: 6 },
          { maxTurns: 50, maxAge: '1d', maxBytes: 10_000 },
          now,
          10,
        ),
      ),
    ).toEqual([7, 8, 9]);
  });
});
