import { ThreadError } from '../threads/errors.js';
import type { ThreadStore } from '../threads/ports.js';
import { TurnError } from './errors.js';
import { FINAL_STATUSES, type Message } from './model.js';
import { type TurnView, turnView } from './view.js';

const WAIT_POLL_MS = 200;

/** A turn of the caller's thread; with `waitSeconds`, waits (polling) until it is final or the time is up. */
export async function getTurn(
  store: ThreadStore,
  tenant: string,
  sessionKey: string,
  turnId: string,
  waitSeconds = 0,
): Promise<TurnView> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const turn = await store.getTurn(tenant, sessionKey, turnId);
    if (!turn)
      throw new TurnError('turn_not_found', `no turn "${turnId}" on thread "${sessionKey}"`, { sessionKey, turnId });
    if (FINAL_STATUSES.includes(turn.status) || Date.now() + WAIT_POLL_MS > deadline) return turnView(turn);
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

/** The thread's history, oldest first, after sequence number `after` (never below its memory floor). */
export async function threadMessages(
  store: ThreadStore,
  tenant: string,
  sessionKey: string,
  options: { after: number; limit: number },
): Promise<{ messages: Message[]; next?: number }> {
  const thread = await store.get(tenant, sessionKey);
  if (!thread) throw new ThreadError('thread_not_found', `no thread "${sessionKey}"`, { sessionKey });
  const messages = await store.messagesAfter(
    tenant,
    sessionKey,
    Math.max(options.after, thread.memoryFloorSeq),
    options.limit,
  );
  const last = messages.at(-1);
  return {
    messages,
    ...(last && messages.length === options.limit && last.seq < thread.messageSeq ? { next: last.seq } : {}),
  };
}
