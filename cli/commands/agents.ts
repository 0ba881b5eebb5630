import type { agentsOverview } from '../../lib/agents/overview.js';
import type { AgentRestartReport } from '../../lib/agents/restart.js';
import { segment } from '../api-client.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { formatKeyValue, formatTable, percent } from '../text-table.js';

/** GET /v1/agents: the API's own overview, whose handler answers agentsOverview() as it is. */
export type AgentsAnswer = Awaited<ReturnType<typeof agentsOverview>>;

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
  notes: [
    "The counters are deployment-wide (every tenant's threads count against an agent's limits).",
    '`threadbound status --agents` prints the same.',
  ],
  examples: ['threadbound agents status', 'threadbound agents status --json'],
  run: printAgentsStatus,
};

const restart: CommandSpec = {
  path: ['agents', 'restart'],
  summary: "release an agent's stale leases, fail its stuck turns and start stranded queues (admin)",
  args: [{ name: 'NAME' }],
  options: {
    force: {
      type: 'boolean',
      description:
        'also restart turns still within their lease (they fail with "the agent was restarted"; their threads are restarted)',
    },
    cursor: {
      type: 'string',
      valueName: 'CURSOR',
      description: 'start from the nextCursor of an earlier restart that stopped (e.g. one run with --json)',
    },
  },
  notes: [
    'Acts on the live threads of every tenant (an admin key is needed). Safe to repeat, also concurrently:',
    'each lease is released, each turn failed and each slot given back once. Without --force a turn within',
    'its lease is never touched. A call that runs out of time answers a nextCursor: the command continues',
    'from it until the walk is complete and prints the summed counts. Counters are not recounted (that is',
    "reconciliation's whole-table Scan); a release a drifted counter refuses counts in errors.",
  ],
  examples: ['threadbound agents restart main', 'threadbound agents restart main --force --json'],
  async run(ctx) {
    const [name] = ctx.args as [string];
    const report = await restartAll(ctx, name);
    if (ctx.json) return ctx.printJson(report);
    ctx.out(
      formatKeyValue([
        ['agent', report.agent],
        ['force', report.force],
        ['calls', report.calls],
        ['threads seen', report.threadsSeen],
        ['leases released', report.leasesReleased],
        ['turns failed', report.turnsFailed],
        ['turns started', report.turnsStarted],
        ...(report.errors > 0
          ? ([['errors', `${report.errors} thread(s) could not be handled (see the API logs); run it again`]] as const)
          : []),
        [
          'complete',
          report.complete
            ? true
            : report.nextCursor
              ? `no: continue with --cursor ${report.nextCursor}`
              : 'no: run it again',
        ],
      ]),
    );
  },
};

/** Summed reports of one restart continued until complete (`calls`: how many requests it took). */
type RestartTotals = AgentRestartReport & { calls: number };

/**
 * Calls the restart (from --cursor, if given), then again from each nextCursor until the walk reached
 * the end, summing the counts. A call that answers no nextCursor ends the loop even when incomplete
 * (a thread kept losing races: running it again is the operator's call).
 */
async function restartAll(ctx: CommandContext, name: string): Promise<RestartTotals> {
  let cursor = typeof ctx.options.cursor === 'string' ? ctx.options.cursor : undefined;
  let totals: RestartTotals | undefined;
  for (;;) {
    const report = await ctx.api('admin').post<AgentRestartReport>(`/v1/agents/${segment(name)}/restart`, {
      force: ctx.options.force === true,
      ...(cursor ? { cursor } : {}),
    });
    totals = totals
      ? {
          ...report,
          calls: totals.calls + 1,
          startedAt: totals.startedAt,
          threadsSeen: totals.threadsSeen + report.threadsSeen,
          leasesReleased: totals.leasesReleased + report.leasesReleased,
          turnsFailed: totals.turnsFailed + report.turnsFailed,
          turnsStarted: totals.turnsStarted + report.turnsStarted,
          errors: totals.errors + report.errors,
          complete: totals.complete && report.complete,
        }
      : { ...report, calls: 1 };
    if (!report.nextCursor) return totals;
    cursor = report.nextCursor;
  }
}

export const agentsGroup: CommandGroup = {
  name: 'agents',
  summary: 'agents: their use against their limits, and restarting their stuck work',
  commands: [status, restart],
};
