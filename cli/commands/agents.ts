import type { AgentOverview } from '../../lib/agents/overview.js';
import type { AgentRestartReport } from '../../lib/agents/restart.js';
import { segment } from '../api-client.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { formatKeyValue, formatTable, percent } from '../table.js';

/** GET /v1/agents. */
export interface AgentsAnswer {
  agents: AgentOverview[];
  deployment: { activeThreads: number; maxThreads: number; utilisation: number };
}

/**
 * Per agent, its threads and turns against its limits, and the deployment's thread count: the body
 * of `agents status`, which `status --agents` prints too.
 */
export async function printAgentsStatus(ctx: CommandContext): Promise<void> {
  const answer = await ctx.api('tenant').get<AgentsAnswer>('/v1/agents');
  if (ctx.json) return ctx.printJson(answer);
  ctx.out(
    formatTable(answer.agents, [
      { header: 'agent', value: (a) => a.name },
      { header: 'threads', value: (a) => `${a.activeThreads}/${a.limits.maxActiveThreads}`, align: 'right' },
      { header: 'turns', value: (a) => `${a.runningTurns}/${a.limits.maxConcurrentTurns}`, align: 'right' },
      { header: 'thread use', value: (a) => percent(a.utilisation.threads), align: 'right' },
      { header: 'turn use', value: (a) => percent(a.utilisation.turns), align: 'right' },
    ]),
  );
  const d = answer.deployment;
  if (d) ctx.out(`\ndeployment: ${d.activeThreads}/${d.maxThreads} threads (${percent(d.utilisation)})\n`);
}

const status: CommandSpec = {
  path: ['agents', 'status'],
  summary: 'per agent: active threads / maxActiveThreads, running turns / maxConcurrentTurns, utilisation',
  notes: ['The counters are deployment-wide (every tenant\'s threads count against an agent\'s limits).', '`threadbound status --agents` prints the same.'],
  examples: ['threadbound agents status', 'threadbound agents status --json'],
  run: printAgentsStatus,
};

const restart: CommandSpec = {
  path: ['agents', 'restart'],
  summary: "release an agent's stale leases, fail its stuck turns, start stranded queues and re-derive its counters (admin)",
  args: [{ name: 'NAME' }],
  options: {
    force: { type: 'boolean', description: 'also restart turns still within their lease (they fail with "the agent was restarted"; their threads are restarted)' },
  },
  notes: [
    'Acts on the live threads of every tenant (an admin key is needed). Safe to repeat, also concurrently:',
    'each lease is released, each turn failed and each slot given back once. Without --force a turn within',
    'its lease is never touched. "complete: no" means the time budget ran out: run it again.',
  ],
  examples: ['threadbound agents restart main', 'threadbound agents restart main --force --json'],
  async run(ctx) {
    const [name] = ctx.args as [string];
    const report = await ctx.api('admin').post<AgentRestartReport>(`/v1/agents/${segment(name)}/restart`, { force: ctx.options.force === true });
    if (ctx.json) return ctx.printJson(report);
    ctx.out(
      formatKeyValue([
        ['agent', report.agent],
        ['force', report.force],
        ['threads seen', report.threadsSeen],
        ['leases released', report.leasesReleased],
        ['turns failed', report.turnsFailed],
        ['turns started', report.turnsStarted],
        ['counters repaired', report.countersRepaired.map((r) => `${r.field} ${r.from} → ${r.to}`)],
        ...(report.countersSkipped.length > 0 ? ([['counters skipped', `${report.countersSkipped.join(', ')} (changed during the recount; run it again)`]] as const) : []),
        ...(report.overLimit.length > 0 ? ([['over limit', report.overLimit.map((o) => `${o.activeThreads} threads > maxActiveThreads ${o.maxActiveThreads}`)]] as const) : []),
        ...(report.errors > 0 ? ([['errors', `${report.errors} thread(s) could not be handled (see the API logs)`]] as const) : []),
        ['complete', report.complete ? true : 'no: the time budget ran out, run it again'],
      ]),
    );
  },
};

export const agentsGroup: CommandGroup = {
  name: 'agents',
  summary: 'agents: their use against their limits, and restarting their stuck work',
  commands: [status, restart],
};
