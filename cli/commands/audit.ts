import type { AuditEntry } from '../../lib/audit/chain.js';
import type { ChainReport } from '../../lib/audit/integrity.js';
import type { ChainProblem } from '../../lib/audit/verify.js';
import type { ApiClient, Query } from '../api-client.js';
import type { CommandContext, CommandGroup, CommandSpec, OptionSpec } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { formatTable } from '../text-table.js';

/** An audit event as GET /v1/audit returns it. */
export type AuditEventView = Omit<AuditEntry, 'prevHash'>;

/** One page of GET /v1/audit. */
export interface AuditPageView {
  from: string;
  to: string;
  events: AuditEventView[];
  nextCursor?: string;
}

/** One page of GET /v1/audit/verify. */
export interface VerifyPageView {
  chains: ChainReport[];
  nextCursor?: string;
}

/** Page size asked of GET /v1/audit (its maximum). */
export const AUDIT_PAGE_LIMIT = 200;
/** A bound on pages followed, should a server keep answering with a cursor. */
const MAX_PAGES = 1000;
/** Events `threadbound audit` shows unless --limit says otherwise. */
const DEFAULT_LIST_LIMIT = 100;
/** Characters of an event's data shown in the summary column. */
const SUMMARY_WIDTH = 60;

/** The time window options every audit listing takes. */
export const AUDIT_WINDOW_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  period: {
    type: 'string',
    valueName: 'DURATION',
    description: 'events of the last DURATION, e.g. 30m, 24h, 7d (default 24h, at most 31d)',
  },
  since: {
    type: 'string',
    valueName: 'ISO',
    description: 'events at or after this instant, e.g. 2025-01-31T00:00:00Z',
  },
};

/** The window part of a GET /v1/audit query from --period / --since (24h when neither is given). */
export function auditWindow(ctx: CommandContext, path: readonly string[]): { since: string } | { period: string } {
  const period = ctx.options.period as string | undefined;
  const since = ctx.options.since as string | undefined;
  if (period !== undefined && since !== undefined) throw new UsageError('give --period or --since, not both', path);
  return since !== undefined ? { since } : { period: period ?? '24h' };
}

/**
 * Audit events of GET /v1/audit, oldest first, following nextCursor until `limit` events (all when
 * none is given). `more` says that the server had more than were fetched.
 */
export async function fetchAuditEvents(
  api: ApiClient,
  query: Query,
  limit = Number.POSITIVE_INFINITY,
): Promise<{ from: string; to: string; events: AuditEventView[]; more: boolean }> {
  const events: AuditEventView[] = [];
  const pageQuery = (cursor?: string): Query => ({
    ...query,
    limit: Math.min(AUDIT_PAGE_LIMIT, limit - events.length),
    ...(cursor !== undefined ? { cursor } : {}),
  });
  const first = await api.get<AuditPageView>('/v1/audit', pageQuery());
  events.push(...first.events);
  let cursor = first.nextCursor;
  for (let pages = 1; cursor !== undefined && events.length < limit; pages += 1) {
    if (pages >= MAX_PAGES)
      throw new CliError(
        'too_many_pages',
        `more than ${MAX_PAGES} pages of audit events: narrow the window (--period, --since) or the --type`,
      );
    const page = await api.get<AuditPageView>('/v1/audit', pageQuery(cursor));
    events.push(...page.events);
    cursor = page.nextCursor;
  }
  return {
    from: first.from,
    to: first.to,
    events: events.slice(0, limit),
    more: cursor !== undefined || events.length > limit,
  };
}

/** A cell value as text (objects as JSON). */
export function text(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
}

const list: CommandSpec = {
  path: ['audit'],
  summary: 'audit events of every chain (threads, secrets, agents), oldest first',
  synopsis: '[--period 24h | --since ISO] [--type TYPE] [--session KEY] [--agent NAME] [--tenant NAME] [--limit N]',
  options: {
    ...AUDIT_WINDOW_OPTIONS,
    type: {
      type: 'string',
      valueName: 'TYPE',
      description: 'only this event type: thread_spawn, agent_exec, secret_reveal, tool_denied, …',
    },
    session: { type: 'string', valueName: 'KEY', description: "only this thread's events (its session key)" },
    agent: { type: 'string', valueName: 'NAME', description: "only this agent's events" },
    tenant: { type: 'string', valueName: 'NAME', description: "only this tenant's events" },
    limit: {
      type: 'string',
      valueName: 'N',
      description: `show at most N events (default ${DEFAULT_LIST_LIMIT}); more pages are followed up to it`,
    },
  },
  notes: ['Needs an admin key. `threadbound audit verify` checks that no entry was changed, removed or reordered.'],
  examples: [
    'threadbound audit --period 24h',
    'threadbound audit --period 7d --type thread_spawn --agent main',
    'threadbound audit --session demo-1 --json',
  ],
  async run(ctx) {
    const limit = positiveInteger(ctx.options.limit as string | undefined, DEFAULT_LIST_LIMIT, list.path);
    const query: Query = {
      ...auditWindow(ctx, list.path),
      type: ctx.options.type as string | undefined,
      sessionKey: ctx.options.session as string | undefined,
      agent: ctx.options.agent as string | undefined,
      tenant: ctx.options.tenant as string | undefined,
    };
    const found = await fetchAuditEvents(ctx.api('admin'), query, limit);
    if (ctx.json) return ctx.printJson({ from: found.from, to: found.to, events: found.events, more: found.more });
    if (found.events.length === 0)
      return ctx.out(`no ${query.type ?? 'audit'} events from ${found.from} to ${found.to}\n`);
    ctx.out(
      formatTable(found.events, [
        { header: 'at', value: (e) => e.at },
        { header: 'type', value: (e) => e.type },
        { header: 'agent/actor', value: (e) => e.agent ?? e.actor },
        { header: 'session key', value: (e) => e.sessionKey },
        { header: 'chain#seq', value: (e) => `${e.chain}#${e.seq}` },
        { header: 'summary', value: (e) => summary(e.data) },
      ]),
    );
    if (found.more)
      ctx.out(`(first ${found.events.length} events shown; there may be more: raise --limit or narrow the window)\n`);
  },
};

const verify: CommandSpec = {
  path: ['audit', 'verify'],
  summary: 'walk every audit hash chain and report each modified, missing or reordered entry',
  notes: [
    'Reads the whole table in pages (GET /v1/audit/verify, followed to the end). Prints one line per problem,',
    'with its partition, chain, seq and kind, then a summary. Exit code 0 when every chain is intact, 1 otherwise.',
  ],
  examples: ['threadbound audit verify', 'threadbound audit verify --json'],
  async run(ctx) {
    const api = ctx.api('admin');
    let chains = 0;
    let entries = 0;
    const broken: ChainReport[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      if (pages++ >= MAX_PAGES * 10)
        throw new CliError('too_many_pages', `more than ${MAX_PAGES * 10} pages of chains: the walk was stopped`);
      const page = await api.get<VerifyPageView>('/v1/audit/verify', { cursor });
      chains += page.chains.length;
      entries += page.chains.reduce((sum, chain) => sum + chain.entries, 0);
      broken.push(...page.chains.filter((chain) => !chain.ok));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const problems = broken.reduce((sum, chain) => sum + chain.problems.length, 0);
    if (ctx.json) {
      ctx.printJson({ ok: problems === 0, chains, entries, problems, broken });
    } else {
      const rows = broken.flatMap((chain) => chain.problems.map((problem) => ({ chain, problem })));
      if (rows.length > 0) {
        ctx.out(
          formatTable(rows, [
            { header: 'partition', value: (r) => r.chain.partition },
            { header: 'chain', value: (r) => r.chain.chain },
            { header: 'seq', value: (r) => seqsOf(r.problem) },
            { header: 'problem', value: (r) => r.problem.kind },
            { header: 'detail', value: (r) => r.problem.message },
          ]),
        );
      }
      const verdict =
        problems === 0 ? 'every chain is intact' : `${broken.length} broken chain${broken.length === 1 ? '' : 's'}`;
      ctx.out(
        `${chains} chain${chains === 1 ? '' : 's'}, ${entries} entr${entries === 1 ? 'y' : 'ies'} verified, ${problems} problem${problems === 1 ? '' : 's'}: ${verdict}\n`,
      );
    }
    return problems === 0 ? 0 : 1;
  },
};

/** The seqs a problem concerns: "3", "3–5" (a missing range) or "3,4" (reordered). */
function seqsOf(problem: ChainProblem): string {
  if (problem.seqs && problem.seqs.length > 1) return problem.seqs.join(',');
  if (problem.lastSeq !== undefined && problem.lastSeq !== problem.seq) return `${problem.seq}–${problem.lastSeq}`;
  return String(problem.seq);
}

/** An event's data on one line: `key=value …`, cut to the column's width. */
function summary(data: Record<string, unknown> | undefined): string | undefined {
  if (!data) return undefined;
  const line = Object.entries(data)
    .map(([key, value]) => `${key}=${text(value)}`)
    .join(' ');
  return line.length > SUMMARY_WIDTH ? `${line.slice(0, SUMMARY_WIDTH - 1)}…` : line;
}

function positiveInteger(value: string | undefined, fallback: number, path: readonly string[]): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d{0,5}$/.test(value)) throw new UsageError('--limit must be a whole number from 1 to 999999', path);
  return Number(value);
}

export const auditGroup: CommandGroup = {
  name: 'audit',
  summary: 'the audit trail: list events, verify the hash chains',
  commands: [list, verify],
};
