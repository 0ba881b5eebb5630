import type { AgentOverview } from '../../lib/agents/overview.js';
import type { CommandGroup, CommandSpec } from '../command.js';
import { formatTable, percent } from '../table.js';

/** GET /v1/agents. */
export interface AgentsAnswer {
  agents: AgentOverview[];
  deployment: { activeThreads: number; maxThreads: number; utilisation: number };
}

const status: CommandSpec = {
  path: ['status'],
  summary: 'the deployment at a glance; --agents: per agent, threads and turns against its limits',
  options: {
    agents: { type: 'boolean', description: 'per agent: active threads / maxActiveThreads, running turns / maxConcurrentTurns, utilisation (the default section today)' },
  },
  notes: ['With no section flag every section is shown (today: --agents).'],
  examples: ['threadbound status --agents', 'threadbound status --agents --json'],
  async run(ctx) {
    // --agents is the only section so far; `status` alone shows every section.
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
  },
};

export const statusGroup: CommandGroup = {
  name: 'status',
  summary: 'the deployment at a glance',
  commands: [status],
};
