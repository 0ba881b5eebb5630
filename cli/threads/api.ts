import type { ThreadView } from '../../lib/threads/view.js';
import type { messageView, TurnView } from '../../lib/turns/view.js';
import { type ApiClient, segment } from '../api-client.js';
import { CliError } from '../errors.js';

// The reply envelopes below have no named type on the API side (the handlers build them inline):
// they are written here once, from the API's own view types.

/** GET /v1/threads. */
export interface ThreadPageAnswer {
  threads: ThreadView[];
  nextCursor?: string;
}

/** DELETE /v1/threads/{sessionKey}. */
export interface TerminateAnswer {
  sessionKey: string;
  status: 'terminated';
  destroyed: boolean;
  alreadyTerminated: boolean;
  thread?: ThreadView;
}

/** POST /v1/threads/{sessionKey}/turns. */
export interface SubmitAnswer {
  turnId: string;
  status: TurnView['status'];
  created: boolean;
}

/** A message as GET /v1/threads/{sessionKey}/messages answers it. */
export type MessageView = ReturnType<typeof messageView>;

/** GET /v1/threads/{sessionKey}/messages. */
export interface MessagesAnswer {
  messages: MessageView[];
  nextAfter?: number;
}

/** A sub-agent outcome as the turn view carries it (trace and durationMs only on newer servers). */
export type SubAgentView = NonNullable<TurnView['subAgents']>[number];

/** Turn statuses after which a turn never changes. */
export const FINAL_TURN_STATUSES: readonly string[] = ['succeeded', 'failed', 'timed_out'];
/** Longest long-poll the API allows (`?wait=`, seconds). */
export const MAX_WAIT_SECONDS = 25;
/** Largest page GET /v1/threads serves. */
const LIST_PAGE_SIZE = 100;
/** A bound on pages followed, should a server keep answering with a cursor. */
const MAX_PAGES = 1000;

/**
 * Up to `limit` of the caller's threads, newest first, following the pages; `cursor` continues
 * after the last one returned when more follow.
 */
export async function listThreads(
  api: ApiClient,
  filter: { agent?: string; status?: string },
  limit: number,
): Promise<{ threads: ThreadView[]; cursor?: string }> {
  const threads: ThreadView[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES && threads.length < limit; page += 1) {
    const answer = await api.get<ThreadPageAnswer>('/v1/threads', {
      agent: filter.agent,
      status: filter.status,
      cursor,
      limit: Math.min(LIST_PAGE_SIZE, limit - threads.length),
    });
    threads.push(...answer.threads);
    cursor = answer.nextCursor;
    if (!cursor) break;
  }
  return { threads: threads.slice(0, limit), ...(cursor ? { cursor } : {}) };
}

/** The API path of a thread. */
export const threadPath = (key: string) => `/v1/threads/${segment(key)}`;

/** Largest page GET /v1/threads/{sessionKey}/messages serves. */
const MESSAGES_PAGE_SIZE = 100;

/**
 * Long-polls a turn until it is final (each request waits up to 25 s on the server, less near the
 * deadline). Past `timeoutMs` it gives up with a `wait_timeout` error naming the turn, which keeps
 * running: a stuck turn must not hang a script forever.
 */
export async function waitForTurn(
  api: ApiClient,
  sessionKey: string,
  turnId: string,
  timeoutMs = Number.POSITIVE_INFINITY,
  now: () => number = Date.now,
): Promise<TurnView> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const left = deadline - now();
    const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.ceil(left / 1000)));
    const turn = await api.get<TurnView>(`${threadPath(sessionKey)}/turns/${segment(turnId)}`, { wait });
    if (FINAL_TURN_STATUSES.includes(turn.status)) return turn;
    if (now() >= deadline) {
      throw new CliError(
        'wait_timeout',
        `turn ${turnId} is still ${turn.status} after ${Math.round(timeoutMs / 1000)} s; it keeps running: threadbound threads show ${sessionKey} --turn ${turnId}`,
        { turnId },
      );
    }
  }
}

/**
 * The thread's most recent `count` messages (oldest first), without reading the whole history. A
 * turn writes one or two messages (its input; its reply if it succeeded), so the last sequence
 * number lies between turnCount and 2 × turnCount: the first read starts `count` before the upper
 * bound; when the history ends earlier (turns that wrote no reply), one more read fills in the
 * `count` before the last sequence number seen (before turnCount if none was).
 */
export async function recentMessages(
  api: ApiClient,
  sessionKey: string,
  turnCount: number,
  count: number,
): Promise<MessageView[]> {
  const from = Math.max(0, 2 * turnCount - count);
  const tail = await messagesAfter(api, sessionKey, from);
  if (tail.length >= count || from === 0) return tail.slice(-count);
  // With no message past `from`, the last one is somewhere in [turnCount, from].
  const lastSeq = tail.at(-1)?.seq ?? turnCount;
  const head = await messagesAfter(api, sessionKey, Math.max(0, lastSeq - count), from);
  return [...head, ...tail].slice(-count);
}

/** The messages after sequence number `after` (up to `through`, if given), following the pages. */
async function messagesAfter(
  api: ApiClient,
  sessionKey: string,
  from: number,
  through = Number.POSITIVE_INFINITY,
): Promise<MessageView[]> {
  const kept: MessageView[] = [];
  let after = from;
  for (let page = 0; page < MAX_PAGES && after < through; page += 1) {
    const limit = Math.min(MESSAGES_PAGE_SIZE, through - after);
    const answer = await api.get<MessagesAnswer>(`${threadPath(sessionKey)}/messages`, { after, limit });
    kept.push(...answer.messages.filter((message) => message.seq <= through));
    if (answer.nextAfter === undefined || answer.messages.length === 0) break;
    after = answer.nextAfter;
  }
  return kept;
}

/** The status of each child thread (those gone since: "gone"). */
export async function childStatuses(api: ApiClient, subs: readonly SubAgentView[]): Promise<Map<string, string>> {
  const entries = await Promise.all(
    subs.map(async (s) => {
      try {
        return [s.sessionKey, (await api.get<ThreadView>(threadPath(s.sessionKey))).status] as const;
      } catch (error) {
        if (error instanceof CliError && error.status === 404) return [s.sessionKey, 'gone'] as const;
        throw error;
      }
    }),
  );
  return new Map(entries);
}
