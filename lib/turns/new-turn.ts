import type { Thread } from '../threads/model.js';
import type { Turn } from './model.js';

/** A new turn of a thread, before it is queued or claimed. */
export function newTurn(thread: Thread, turnId: string, input: string, now: Date, idempotencyKey?: string): Turn {
  return {
    tenant: thread.tenant,
    sessionKey: thread.sessionKey,
    threadId: thread.threadId,
    turnId,
    agent: thread.agent,
    status: 'queued',
    input,
    ...(idempotencyKey ? { idempotencyKey } : {}),
    generation: thread.generation,
    createdAt: now.toISOString(),
  };
}
