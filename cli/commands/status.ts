import type { CommandGroup, CommandSpec } from '../command.js';
import { printAgentsStatus } from './agents.js';

const status: CommandSpec = {
  path: ['status'],
  summary: 'the deployment at a glance; --agents: per agent, threads and turns against its limits',
  options: {
    agents: {
      type: 'boolean',
      description:
        'per agent: active threads / maxActiveThreads, running turns / maxConcurrentTurns, utilisation (the default section today)',
    },
  },
  notes: ['With no section flag every section is shown (today: --agents, the same as `threadbound agents status`).'],
  examples: ['threadbound status --agents', 'threadbound status --agents --json'],
  async run(ctx) {
    // --agents is the only section so far; `status` alone shows every section.
    await printAgentsStatus(ctx);
  },
};

export const statusGroup: CommandGroup = {
  name: 'status',
  summary: 'the deployment at a glance',
  commands: [status],
};
