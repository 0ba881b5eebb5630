import { randomUUID } from 'node:crypto';
import type { ThreadView } from '../../lib/threads/view.js';
import type { TurnView } from '../../lib/turns/view.js';
import { segment } from '../api-client.js';
import type { CommandGroup, CommandSpec } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { isTerminal, startProgress } from '../progress.js';
import {
  childStatuses,
  listThreads,
  recentMessages,
  type SubmitAnswer,
  type TerminateAnswer,
  threadPath,
  waitForTurn,
} from '../threads/api.js';
import { DEFAULT_SEND_TIMEOUT, parseCount, parseMetadata, parseTimeout, readTurnInput } from '../threads/options.js';
import { formatDuration, renderMessageTable, renderThread, renderThreadTable, renderTurn } from '../threads/render.js';

/** Rows `threads list` shows unless --limit says otherwise. */
const DEFAULT_LIST_LIMIT = 50;
/** Messages `threads show` prints unless --messages says otherwise. */
const DEFAULT_SHOWN_MESSAGES = 10;

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
    const { threads: shown, cursor } = await listThreads(
      ctx.api('tenant'),
      { agent: ctx.options.agent as string | undefined, status },
      limit,
    );
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
    ctx.out(messages.length === 0 ? '  none\n' : renderMessageTable(messages));
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

export const threadsGroup: CommandGroup = {
  name: 'threads',
  summary: 'threads: spawn, list, show, send turns, restart, terminate',
  commands: [spawn, list, show, send, restart, terminate],
};
