import { AgentRuntime } from '../../../lib/agents/runtime.js';
import { configuredProviders } from '../../../lib/models/model-chain.js';
import { agentEvents } from './agent-events.js';
import { config } from './config.js';
import { providerHealth } from './provider-health.js';
import { secretResolver } from './secret-resolver.js';
import { threadStore } from './thread-store.js';
import { threads } from './threads.js';
import { tools } from './tools.js';
import { turns } from './turns.js';

/** The agent functions' runtime: the model chain (providers loaded per kind on first use), tools, secrets, circuits. */
export const agentRuntime = new AgentRuntime(config, threadStore, threads, turns, {
  providers: configuredProviders(config),
  secrets: secretResolver,
  tools,
  events: agentEvents,
  health: providerHealth,
});
