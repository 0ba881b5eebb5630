import { describe, expect, it } from 'vitest';
import { TRIM_BATCH, trimRange } from '../../lib/turns/trim.js';
import { aThread } from './turn-fixtures.js';

const memory = { maxTurns: 2, maxAge: '1d', maxBytes: 10_000 };

describe('trim range', () => {
  it('claims what fell below the window of maxTurns exchanges since the last trim', () => {
    // After the finish the last message is 10: the window keeps 7..10, so 5 and 6 fell out since 4.
    expect(trimRange(aThread({ messageSeq: 9, trimmedThroughSeq: 4 }), memory, 10)).toEqual({
      seqs: [5, 6],
      through: 6,
    });
  });

  it('claims nothing while the history fits the window, or with no memory configured', () => {
    expect(trimRange(aThread({ messageSeq: 3 }), memory, 4)).toBeUndefined();
    expect(trimRange(aThread({ messageSeq: 9, trimmedThroughSeq: 6 }), memory, 10)).toBeUndefined();
    expect(trimRange(aThread({ messageSeq: 9, trimmedThroughSeq: 0 }), undefined, 10)).toBeUndefined();
  });

  it('a thread from before trimmedThroughSeq starts where the old trim had got to', () => {
    // The old trim deleted the two seqs below the window at each finish: through messageSeq − 2 × maxTurns.
    expect(trimRange(aThread({ messageSeq: 9 }), memory, 10)).toEqual({ seqs: [6], through: 6 });
  });

  it('never claims below the memory floor (a restart with clearMemory already dropped those)', () => {
    expect(trimRange(aThread({ messageSeq: 9, trimmedThroughSeq: 1, memoryFloorSeq: 4 }), memory, 10)).toEqual({
      seqs: [5, 6],
      through: 6,
    });
  });

  it('claims at most one batch per finish; the next finish continues', () => {
    const range = trimRange(aThread({ messageSeq: 99, trimmedThroughSeq: 0 }), memory, 100);
    expect(range?.seqs).toHaveLength(TRIM_BATCH);
    expect(range).toMatchObject({ through: 25 });
    expect(range?.seqs[0]).toBe(1);
  });
});
