import type { ThreadView } from '../../lib/threads/view.js';
import type { PhaseTrace } from '../../lib/turns/trace.js';
import type { TurnView } from '../../lib/turns/view.js';
import { cell, formatKeyValue, formatTable } from '../text-table.js';
import { FINAL_TURN_STATUSES, type MessageView, type SubAgentView } from './api.js';

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

/** Every phase of a turn in the order it ran: main, each sub-agent's, then the coalesce phase. */
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

/** The table of a thread's recent messages, each content cut to one short line. */
export function renderMessageTable(messages: readonly MessageView[]): string {
  return formatTable(messages, [
    { header: 'seq', value: (m) => m.seq, align: 'right' },
    { header: 'role', value: (m) => m.role },
    { header: 'at', value: (m) => m.createdAt },
    { header: 'content', value: (m) => truncate(cell(m.content), 100) },
  ]);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
