import { randomUUID } from 'node:crypto';
import { durationMs } from '../../lib/config/duration.js';
import type { ThreadView } from '../../lib/threads/view.js';
import type { Message } from '../../lib/turns/model.js';
import type { PhaseTrace } from '../../lib/turns/trace.js';
import type { TurnView } from '../../lib/turns/view.js';
import { type ApiClient, segment } from '../api-client.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { isTerminal, startProgress } from '../progress.js';
import { cell, formatKeyValue, formatTable } from '../table.js';

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

/** GET /v1/threads/{sessionKey}/messages. */
export interface MessagesAnswer {
  messages: Pick<Message, 'seq' | 'role' | 'content' | 'turnId' | 'agent' | 'createdAt'>[];
  nextAfter?: number;
}

/** A sub-agent outcome as the turn view carries it (trace and durationMs only on newer servers). */
type SubAgentView = NonNullable<TurnView['subAgents']>[number];

/** Turn statuses after which a turn never changes. */
export const FINAL_TURN_STATUSES: readonly string[] = ['succeeded', 'failed', 'timed_out'];
/** Longest long-poll the API allows (`?wait=`, seconds). */
export const MAX_WAIT_SECONDS = 25;
/** Rows `threads list` shows unless --limit says otherwise. */
const DEFAULT_LIST_LIMIT = 50;
/** Largest page GET /v1/threads serves. */
const LIST_PAGE_SIZE = 100;
/** A bound on pages followed, should a server keep answering with a cursor. */
const MAX_PAGES = 1000;
/** Messages `threads show` prints unless --messages says otherwise. */
const DEFAULT_SHOWN_MESSAGES = 10;

// ---------------------------------------------------------------- argument parsing

/** The --timeout of `threads send` in milliseconds (a duration such as "90s" or "30m"), or a usage error. */
export function parseTimeout(value: string | boolean | undefined, command: readonly string[]): number {
  try {
    return durationMs(typeof value === 'string' ? value : DEFAULT_SEND_TIMEOUT);
  } catch {
    throw new UsageError(`--timeout must be a duration such as 90s, 30m or 1h (got ${JSON.stringify(value)})`, command);
  }
}

/** A positive whole number from an option, or a usage error naming it. */
export function parseCount(
  value: string | boolean | undefined,
  option: string,
  command: readonly string[],
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--${option} must be a whole number from 1 to ${max}`, command);
  return n;
}

/** --metadata: a JSON object of string values (the API checks names and sizes). */
export function parseMetadata(
  value: string | boolean | undefined,
  command: readonly string[],
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch {
    throw new UsageError('--metadata must be a JSON object, e.g. --metadata \'{"user":"ann"}\'', command);
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string')
  ) {
    throw new UsageError(
      '--metadata must be a JSON object of string values, e.g. --metadata \'{"user":"ann"}\'',
      command,
    );
  }
  return parsed as Record<string, string>;
}

/** The input of `threads send`: the argument, or with "-" all of stdin (one trailing newline dropped). */
export async function readTurnInput(
  ctx: Pick<CommandContext, 'io'>,
  argument: string,
  command: readonly string[],
): Promise<string> {
  let input = argument;
  if (argument === '-') {
    if (ctx.io.stdin.isTTY)
      throw new UsageError(
        '"-" reads the message from stdin, which is a terminal: pipe it in, or give the message as an argument',
        command,
      );
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.io.stdin as AsyncIterable<Buffer | string>)
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    input = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  if (input.trim().length === 0)
    throw new UsageError(argument === '-' ? 'the message from stdin is empty' : 'the message is empty', command);
  return input;
}

// ---------------------------------------------------------------- rendering

/** Milliseconds as "850 ms" or "2.4 s". */
export function formatDuration(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms)) return undefined;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** How long a sub-agent ran: its durationMs, else from its timestamps. */
function subAgentDuration(sub: SubAgentView): number | undefined {
  if (typeof sub.durationMs === 'number') return sub.durationMs;
  return sub.startedAt && sub.endedAt ? Date.parse(sub.endedAt) - Date.parse(sub.startedAt) : undefined;
}

/** Text indented by two spaces on every line. */
function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`.trimEnd())
    .join('\n');
}

/** The key/value block of a thread. */
export function renderThread(thread: ThreadView): string {
  return formatKeyValue([
    ['session key', thread.sessionKey],
    ['agent', thread.agent],
    ['status', thread.status],
    ['generation', thread.generation],
    ['turns', thread.turnCount],
    ['created', thread.createdAt],
    ['last active', thread.lastActiveAt],
    ...(thread.idleAt ? ([['idle at', thread.idleAt]] as const) : []),
    ...(thread.terminatedAt
      ? ([
          ['terminated', `${thread.terminatedAt}${thread.terminationReason ? ` (${thread.terminationReason})` : ''}`],
        ] as const)
      : []),
    ...(thread.runningTurn
      ? ([['running turn', `${thread.runningTurn.turnId} (lease until ${thread.runningTurn.leaseExpiresAt})`]] as const)
      : []),
    ...(thread.lineage
      ? ([
          [
            'parent',
            `${thread.lineage.parentSessionKey} (turn ${thread.lineage.parentTurnId}, depth ${thread.lineage.depth})`,
          ],
        ] as const)
      : []),
    ['metadata', Object.entries(thread.metadata ?? {}).map(([k, v]) => `${k}=${v}`)],
  ]);
}

/** A table of threads. */
export function renderThreadTable(threads: readonly ThreadView[]): string {
  return formatTable(threads, [
    { header: 'session key', value: (t) => t.sessionKey },
    { header: 'agent', value: (t) => t.agent },
    { header: 'status', value: (t) => t.status },
    { header: 'turns', value: (t) => t.turnCount, align: 'right' },
    { header: 'last active', value: (t) => t.lastActiveAt },
  ]);
}

/** Every phase of a turn in the order it ran: main, each sub-agent's, then the merge. */
export function turnPhases(turn: Pick<TurnView, 'trace' | 'subAgents'>): PhaseTrace[] {
  const own = turn.trace?.phases ?? [];
  const subs = (turn.subAgents ?? []).flatMap((s) => (s.trace ? [s.trace] : []));
  return [...own.filter((p) => p.phase !== 'coalesce'), ...subs, ...own.filter((p) => p.phase === 'coalesce')];
}

/**
 * A turn: status and timings, input, reply or error, then how it ran — sub-agents with their child
 * threads, the models tried (with the reason of each fallback), tool calls and secret names — as far
 * as the server recorded it (an older server sends no trace: those sections say so).
 */
export function renderTurn(turn: TurnView, childStatus: ReadonlyMap<string, string> = new Map()): string {
  const parts: string[] = [];
  const duration = turn.startedAt && turn.endedAt ? Date.parse(turn.endedAt) - Date.parse(turn.startedAt) : undefined;
  parts.push(
    formatKeyValue([
      ['turn', turn.turnId],
      ['status', turn.status],
      ['created', turn.createdAt],
      ...(turn.startedAt ? ([['started', turn.startedAt]] as const) : []),
      ...(turn.endedAt
        ? ([['ended', `${turn.endedAt}${duration !== undefined ? ` (${formatDuration(duration)})` : ''}`]] as const)
        : []),
      ...(turn.idempotencyKey ? ([['idempotency key', turn.idempotencyKey]] as const) : []),
    ]),
  );
  parts.push(`input:\n${indent(turn.input)}\n`);
  if (turn.reply !== undefined) parts.push(`reply:\n${indent(turn.reply)}\n`);
  if (turn.error !== undefined) parts.push(`error:\n${indent(turn.error)}\n`);

  const subs = turn.subAgents ?? [];
  if (subs.length > 0) {
    parts.push(
      `sub-agents:\n${formatTable(subs, [
        { header: 'agent', value: (s) => s.agent },
        { header: 'child thread', value: (s) => s.sessionKey },
        { header: 'status', value: (s) => s.status },
        { header: 'duration', value: (s) => formatDuration(subAgentDuration(s)), align: 'right' },
        { header: 'thread', value: (s) => childStatus.get(s.sessionKey) },
        ...(subs.some((s) => s.error !== undefined) ? [{ header: 'error', value: (s: SubAgentView) => s.error }] : []),
      ])}`,
    );
  }

  const phases = turnPhases(turn);
  if (phases.length === 0) {
    if (FINAL_TURN_STATUSES.includes(turn.status))
      parts.push('trace: none recorded for this turn (models, tools and secrets are not shown)\n');
    return parts.join('\n');
  }
  parts.push(
    `phases:\n${formatTable(phases, [
      { header: 'phase', value: (p) => p.phase },
      { header: 'agent', value: (p) => p.agent },
      { header: 'started', value: (p) => p.startedAt },
      { header: 'duration', value: (p) => formatDuration(p.durationMs), align: 'right' },
    ])}`,
  );
  const models = phases.flatMap((p) => (p.models ?? []).map((m) => ({ ...m, phase: p.phase, agent: p.agent })));
  if (models.length > 0) {
    parts.push(
      `models tried:\n${formatTable(models, [
        { header: 'phase', value: (m) => m.phase },
        { header: 'agent', value: (m) => m.agent },
        { header: 'model', value: (m) => m.model },
        { header: 'outcome', value: (m) => m.outcome },
        { header: 'status', value: (m) => m.status, align: 'right' },
        { header: 'ms', value: (m) => m.ms, align: 'right' },
        { header: 'reason', value: (m) => m.reason },
      ])}`,
    );
  }
  const tools = phases.flatMap((p) => (p.tools ?? []).map((t) => ({ ...t, phase: p.phase, agent: p.agent })));
  parts.push(
    tools.length === 0
      ? 'tool calls: none\n'
      : `tool calls:\n${formatTable(tools, [
          { header: 'phase', value: (t) => t.phase },
          { header: 'agent', value: (t) => t.agent },
          { header: 'tool', value: (t) => t.name },
          { header: 'allowed', value: (t) => t.allowed },
          { header: 'outcome', value: (t) => t.outcome },
          { header: 'ms', value: (t) => t.ms, align: 'right' },
          { header: 'reason', value: (t) => t.reason },
        ])}`,
  );
  const secrets = phases
    .filter((p) => (p.secrets ?? []).length > 0)
    .map((p) => `${p.agent} (${p.phase}): ${p.secrets.join(', ')}`);
  parts.push(
    secrets.length === 0
      ? 'secrets used: none\n'
      : `secrets used (names only):\n${secrets.map((s) => `  ${s}`).join('\n')}\n`,
  );
  const omitted = phases
    .filter((p) => p.omitted)
    .map(
      (p) =>
        `${p.agent} (${p.phase}): ${Object.entries(p.omitted!)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ')}`,
    );
  if (omitted.length > 0)
    parts.push(`left out of the trace (size caps):\n${omitted.map((s) => `  ${s}`).join('\n')}\n`);
  return parts.join('\n');
}

// ---------------------------------------------------------------- API helpers

const threadPath = (key: string) => `/v1/threads/${segment(key)}`;

/** How long `threads send` waits for a turn unless --timeout says otherwise. */
export const DEFAULT_SEND_TIMEOUT = '15m';
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
async function recentMessages(
  api: ApiClient,
  sessionKey: string,
  turnCount: number,
  count: number,
): Promise<MessagesAnswer['messages']> {
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
): Promise<MessagesAnswer['messages']> {
  const kept: MessagesAnswer['messages'] = [];
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
async function childStatuses(api: ApiClient, subs: readonly SubAgentView[]): Promise<Map<string, string>> {
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

// ---------------------------------------------------------------- commands

const spawn: CommandSpec = {
  path: ['threads', 'spawn'],
  summary: 'spawn a thread bound to an agent; prints its sessionKey first',
  synopsis: '--agent AGENT [--session KEY] [--metadata JSON]',
  options: {
    agent: { type: 'string', valueName: 'AGENT', description: 'the agent the thread is bound to (required)' },
    session: {
      type: 'string',
      valueName: 'KEY',
      description: 'the sessionKey (required when the deployment runs in manual mode; auto mode assigns one)',
    },
    metadata: {
      type: 'string',
      valueName: 'JSON',
      description: 'a JSON object of string values kept with the thread, e.g. \'{"user":"ann"}\'',
    },
  },
  examples: [
    'threadbound threads spawn --agent main',
    'SK=$(threadbound threads spawn --agent main --metadata \'{"user":"ann"}\' | head -1)',
    'threadbound threads spawn --agent main --session support-42 --json',
  ],
  async run(ctx) {
    const agent = ctx.options.agent;
    if (typeof agent !== 'string' || agent === '') throw new UsageError('--agent AGENT is required', spawn.path);
    const metadata = parseMetadata(ctx.options.metadata, spawn.path);
    const session = ctx.options.session as string | undefined;
    const thread = await ctx.api('tenant').post<ThreadView>('/v1/threads', {
      agent,
      ...(session !== undefined ? { sessionKey: session } : {}),
      ...(metadata ? { metadata } : {}),
    });
    if (ctx.json) return ctx.printJson(thread);
    ctx.out(`${thread.sessionKey}\n\n${renderThread(thread)}`);
  },
};

const list: CommandSpec = {
  path: ['threads', 'list'],
  summary: "the caller's threads, newest first (follows the pages up to --limit)",
  synopsis: '[--agent AGENT] [--status active|idle|terminated] [--limit N]',
  options: {
    agent: { type: 'string', valueName: 'AGENT', description: 'only threads of this agent' },
    status: {
      type: 'string',
      valueName: 'STATUS',
      description: 'only threads in this status: active, idle or terminated',
    },
    limit: { type: 'string', valueName: 'N', description: `at most N threads (default ${DEFAULT_LIST_LIMIT})` },
  },
  examples: [
    'threadbound threads list',
    'threadbound threads list --agent main --status active --limit 200',
    'threadbound threads list --json',
  ],
  async run(ctx) {
    const limit = parseCount(ctx.options.limit, 'limit', list.path, DEFAULT_LIST_LIMIT, 100_000);
    const status = ctx.options.status as string | undefined;
    if (status !== undefined && !['active', 'idle', 'terminated'].includes(status))
      throw new UsageError('--status must be active, idle or terminated', list.path);
    const api = ctx.api('tenant');
    const threads: ThreadView[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES && threads.length < limit; page += 1) {
      const answer = await api.get<ThreadPageAnswer>('/v1/threads', {
        agent: ctx.options.agent as string | undefined,
        status,
        cursor,
        limit: Math.min(LIST_PAGE_SIZE, limit - threads.length),
      });
      threads.push(...answer.threads);
      cursor = answer.nextCursor;
      if (!cursor) break;
    }
    const shown = threads.slice(0, limit);
    // --json: the API's own shape, the pages joined (nextCursor continues after the last one shown).
    if (ctx.json) return ctx.printJson({ threads: shown, ...(cursor ? { nextCursor: cursor } : {}) });
    if (shown.length === 0) return ctx.out('no threads\n');
    ctx.out(renderThreadTable(shown));
    if (cursor) ctx.out(`\n(more threads follow: raise --limit to see them)\n`);
  },
};

const show: CommandSpec = {
  path: ['threads', 'show'],
  summary: "a thread's status, its recent messages and its last (or given) turn with the reply and how it ran",
  args: [{ name: 'KEY' }],
  options: {
    turn: { type: 'string', valueName: 'TURN_ID', description: 'show this turn instead of the last one' },
    messages: {
      type: 'string',
      valueName: 'N',
      description: `how many recent messages (default ${DEFAULT_SHOWN_MESSAGES})`,
    },
  },
  notes: ['A child thread (<key>:<agent>) can be shown like any other. --json prints {thread, messages, turn}.'],
  examples: [
    'threadbound threads show s-01j…',
    'threadbound threads show s-01j… --turn turn_01j…',
    "threadbound threads show 's-01j…:data'",
  ],
  async run(ctx) {
    const [key] = ctx.args as [string];
    const count = parseCount(ctx.options.messages, 'messages', show.path, DEFAULT_SHOWN_MESSAGES, 1000);
    const api = ctx.api('tenant');
    // The thread first: its turnCount tells where the recent messages start.
    const thread = await api.get<ThreadView>(threadPath(key));
    const messages = await recentMessages(api, key, thread.turnCount, count);
    const turnId = (ctx.options.turn as string | undefined) ?? thread.runningTurn?.turnId ?? messages.at(-1)?.turnId;
    const turn = turnId ? await api.get<TurnView>(`${threadPath(key)}/turns/${segment(turnId)}`) : undefined;
    if (ctx.json) return ctx.printJson({ thread, messages, ...(turn ? { turn } : {}) });
    ctx.out(renderThread(thread));
    ctx.out(`\nrecent messages${messages.length > 0 ? ` (last ${messages.length})` : ''}:\n`);
    ctx.out(
      messages.length === 0
        ? '  none\n'
        : formatTable(messages, [
            { header: 'seq', value: (m) => m.seq, align: 'right' },
            { header: 'role', value: (m) => m.role },
            { header: 'at', value: (m) => m.createdAt },
            { header: 'content', value: (m) => truncate(cell(m.content), 100) },
          ]),
    );
    if (!turn) return ctx.out('\nno turn to show (none running, none in memory): --turn TURN_ID shows one\n');
    const children = await childStatuses(api, turn.subAgents ?? []);
    ctx.out(`\n${renderTurn(turn, children)}`);
  },
};

const send: CommandSpec = {
  path: ['threads', 'send'],
  summary: 'submit a turn and wait for its reply (MESSAGE, or - for stdin)',
  args: [{ name: 'KEY' }, { name: 'MESSAGE' }],
  synopsis: 'KEY MESSAGE|- [--no-wait] [--timeout DURATION] [--idempotency-key KEY]',
  options: {
    'no-wait': {
      type: 'boolean',
      description: 'print the turnId once the turn is accepted, without waiting for the reply',
    },
    timeout: {
      type: 'string',
      valueName: 'DURATION',
      description: `how long to wait for the reply, e.g. 90s, 30m (default ${DEFAULT_SEND_TIMEOUT}); then exit 1 naming the turn, which keeps running`,
    },
    'idempotency-key': {
      type: 'string',
      valueName: 'KEY',
      description: 'repeat a submission safely: the same key returns the same turn (default: a new key each time)',
    },
  },
  notes: [
    'Prints the reply on stdout; while the turn runs, a progress line on stderr (a spinner on a terminal).',
    'Exit code 1 when the turn failed or timed out (its error on stderr), or was not final within --timeout (wait_timeout, with the turnId). --json prints the final turn.',
  ],
  examples: [
    'threadbound threads send s-01j… "analyse the BTC price trend"',
    'echo "long question" | threadbound threads send s-01j… -',
    'threadbound threads send s-01j… "later" --no-wait',
  ],
  async run(ctx) {
    const [key, message] = ctx.args as [string, string];
    const input = await readTurnInput(ctx, message, send.path);
    const timeoutMs = parseTimeout(ctx.options.timeout, send.path);
    const idempotencyKey = (ctx.options['idempotency-key'] as string | undefined) ?? `cli-${randomUUID()}`;
    const api = ctx.api('tenant');
    const submitted = await api.post<SubmitAnswer>(`${threadPath(key)}/turns`, { input, idempotencyKey });
    if (ctx.options['no-wait'] === true) {
      if (ctx.json) return ctx.printJson(submitted);
      return ctx.out(`${submitted.turnId}\n`);
    }
    // Progress goes to stderr and never with --json: a script's stderr stays clean too.
    const progress = ctx.json
      ? undefined
      : startProgress(ctx.err, {
          tty: isTerminal(ctx.io.stderr),
          label: `waiting for turn ${submitted.turnId} (${submitted.status})`,
        });
    let turn: TurnView;
    try {
      turn = await waitForTurn(api, key, submitted.turnId, timeoutMs);
    } finally {
      progress?.stop();
    }
    if (ctx.json) ctx.printJson(turn);
    else if (turn.status === 'succeeded') {
      ctx.out(`${turn.reply ?? ''}\n`);
      const subs = turn.subAgents ?? [];
      const ran =
        turn.startedAt && turn.endedAt
          ? ` in ${formatDuration(Date.parse(turn.endedAt) - Date.parse(turn.startedAt))}`
          : '';
      ctx.err(
        `turn ${turn.turnId} succeeded${ran}${subs.length > 0 ? `; sub-agents: ${subs.map((s) => `${s.agent} ${s.status}`).join(', ')}` : ''} (threadbound threads show ${key} tells how it ran)\n`,
      );
    }
    if (turn.status !== 'succeeded')
      throw new CliError(
        `turn_${turn.status}`,
        `turn ${turn.turnId} ${turn.status === 'timed_out' ? 'timed out' : 'failed'}: ${turn.error ?? 'no reason given'}`,
        { turnId: turn.turnId },
      );
  },
};

const restart: CommandSpec = {
  path: ['threads', 'restart'],
  summary: 'restart a thread: release a stuck turn (it fails), bump the generation, keep or clear its memory',
  args: [{ name: 'KEY' }],
  options: {
    'clear-memory': {
      type: 'boolean',
      description: "drop the thread's memory (its messages leave the agent's context)",
    },
  },
  examples: ['threadbound threads restart s-01j…', 'threadbound threads restart s-01j… --clear-memory'],
  async run(ctx) {
    const [key] = ctx.args as [string];
    const clearMemory = ctx.options['clear-memory'] === true;
    const thread = await ctx.api('tenant').post<ThreadView>(`${threadPath(key)}/restart`, { clearMemory });
    if (ctx.json) return ctx.printJson(thread);
    ctx.out(
      `restarted ${thread.sessionKey}: generation ${thread.generation}, memory ${clearMemory ? 'cleared' : 'kept'}\n\n${renderThread(thread)}`,
    );
  },
};

const terminate: CommandSpec = {
  path: ['threads', 'terminate'],
  summary: 'terminate a thread and its child threads (an autoDestroy agent deletes its items; the audit trail stays)',
  args: [{ name: 'KEY' }],
  examples: ['threadbound threads terminate s-01j…'],
  async run(ctx) {
    const [key] = ctx.args as [string];
    const answer = await ctx.api('tenant').delete<TerminateAnswer>(threadPath(key));
    if (ctx.json) return ctx.printJson(answer);
    if (answer.alreadyTerminated) return ctx.out(`${answer.sessionKey} was already terminated\n`);
    ctx.out(
      `terminated ${answer.sessionKey}${answer.destroyed ? ' (destroyed: its items are deleted, its audit trail stays)' : ' (kept as terminated)'}\n`,
    );
  },
};

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const threadsGroup: CommandGroup = {
  name: 'threads',
  summary: 'threads: spawn, list, show, send turns, restart, terminate',
  commands: [spawn, list, show, send, restart, terminate],
};
