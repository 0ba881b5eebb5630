import { createHash } from 'node:crypto';
import { ulid } from '../threads/session-key.js';

/** The turnId of an idempotent submission: the same key on the same thread always names the same turn. */
export function idempotentTurnId(threadId: string, idempotencyKey: string): string {
  return `turn_${createHash('sha256').update(`${threadId}\n${idempotencyKey}`).digest('hex').slice(0, 26)}`;
}

/** The turnId of a submission: derived from its idempotency key when it has one, otherwise new. */
export function submittedTurnId(threadId: string, idempotencyKey?: string): string {
  return idempotencyKey ? idempotentTurnId(threadId, idempotencyKey) : `turn_${ulid()}`;
}
