import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { idempotentTurnId, submittedTurnId } from '../../lib/turns/turn-id.js';

describe('turn ids', () => {
  it('an idempotency key names one turn per thread: turn_ + 26 hex of sha256(threadId, key)', () => {
    const hex = createHash('sha256').update('thr_1\nkey-1').digest('hex').slice(0, 26);
    expect(idempotentTurnId('thr_1', 'key-1')).toBe(`turn_${hex}`);
    expect(idempotentTurnId('thr_1', 'key-1')).toBe(idempotentTurnId('thr_1', 'key-1'));
    expect(idempotentTurnId('thr_2', 'key-1')).not.toBe(idempotentTurnId('thr_1', 'key-1'));
    expect(idempotentTurnId('thr_1', 'key-2')).not.toBe(idempotentTurnId('thr_1', 'key-1'));
  });

  it('the separator keeps (threadId, key) pairs apart that concatenate alike', () => {
    expect(idempotentTurnId('thr_1', '2key')).not.toBe(idempotentTurnId('thr_12', 'key'));
  });

  it('a submission without a key gets a new ulid-based id each time', () => {
    const a = submittedTurnId('thr_1');
    expect(a).toMatch(/^turn_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(submittedTurnId('thr_1')).not.toBe(a);
    expect(submittedTurnId('thr_1', 'key-1')).toBe(idempotentTurnId('thr_1', 'key-1'));
  });
});
