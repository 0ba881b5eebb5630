import { describe, expect, it } from 'vitest';
import { OPTIMISTIC_ATTEMPTS, retryOptimistic, threadConflict } from '../../lib/threads/optimistic.js';

describe('retryOptimistic', () => {
  it('returns the first result a step decides', async () => {
    const attempts: number[] = [];
    const result = await retryOptimistic(
      async (attempt) => {
        attempts.push(attempt);
        return attempt < 2 ? undefined : 'won';
      },
      () => 'gave up',
    );
    expect(result).toBe('won');
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('after OPTIMISTIC_ATTEMPTS lost races answers with `exhausted`, which may throw the conflict its caller names', async () => {
    let runs = 0;
    const step = async () => {
      runs += 1;
      return undefined;
    };
    await expect(
      retryOptimistic(step, () => {
        throw threadConflict('s1');
      }),
    ).rejects.toMatchObject({ code: 'conflict', details: { sessionKey: 's1' } });
    expect(runs).toBe(OPTIMISTIC_ATTEMPTS);
  }, 30_000);

  it('a step that throws ends the loop at once', async () => {
    let runs = 0;
    await expect(
      retryOptimistic(
        async () => {
          runs += 1;
          throw new Error('boom');
        },
        () => 'gave up',
      ),
    ).rejects.toThrow('boom');
    expect(runs).toBe(1);
  });
});
