import { durationMs } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import type { ThreadCounters } from '../threads/ports.js';

/** One agent's configured limits and current use. */
export interface AgentOverview {
  name: string;
  description?: string;
  mode: 'thread-bound' | 'singleton';
  models: string[];
  limits: {
    maxActiveThreads: number;
    maxConcurrentTurns: number;
    timeoutSeconds: number;
    idleTimeoutSeconds: number;
    autoDestroy: boolean;
    onBusy: 'reject' | 'enqueue';
    memory: { maxTurns: number; maxAgeSeconds: number; maxBytes: number };
    subAgents: string[];
    maxChildren: number;
    maxSpawnDepth: number;
  };
  activeThreads: number;
  runningTurns: number;
  /** Turns that ran past the agent's timeout since the deployment began. */
  timedOutTurns: number;
  /** Fractions (0–1) of the limits in use. */
  utilisation: { threads: number; turns: number };
}

/** Per-agent limits, counters and utilisation, plus the deployment-wide thread count. */
export async function agentsOverview(
  config: Config,
  store: ThreadCounters,
): Promise<{
  agents: AgentOverview[];
  deployment: { activeThreads: number; maxThreads: number; utilisation: number };
}> {
  const names = Object.keys(config.agents);
  const counters = await store.counters(names);
  const ratio = (used: number, max: number) => Math.round((used / max) * 1000) / 1000;
  const seconds = (text: string) => durationMs(text) / 1000;
  const agents = names.map((name): AgentOverview => {
    const agent = config.agents[name]!;
    const used = counters.agents[name] ?? { activeThreads: 0, runningTurns: 0, timedOutTurns: 0 };
    return {
      name,
      ...(agent.description ? { description: agent.description } : {}),
      mode: agent.mode,
      models: agent.models,
      limits: {
        maxActiveThreads: agent.maxActiveThreads,
        maxConcurrentTurns: agent.maxConcurrentTurns,
        timeoutSeconds: seconds(agent.timeout),
        idleTimeoutSeconds: seconds(agent.idleTimeout ?? config.threadManagement.idleTimeout),
        autoDestroy: agent.autoDestroy,
        onBusy: agent.onBusy ?? config.threadManagement.onBusy,
        memory: {
          maxTurns: agent.memory.maxTurns,
          maxAgeSeconds: seconds(agent.memory.maxAge),
          maxBytes: agent.memory.maxBytes,
        },
        subAgents: agent.subAgents,
        maxChildren: agent.maxChildren,
        maxSpawnDepth: agent.maxSpawnDepth,
      },
      activeThreads: used.activeThreads,
      runningTurns: used.runningTurns,
      timedOutTurns: used.timedOutTurns,
      utilisation: {
        threads: ratio(used.activeThreads, agent.maxActiveThreads),
        turns: ratio(used.runningTurns, agent.maxConcurrentTurns),
      },
    };
  });
  const maxThreads = config.threadManagement.maxThreads;
  return {
    agents,
    deployment: {
      activeThreads: counters.activeThreads,
      maxThreads,
      utilisation: ratio(counters.activeThreads, maxThreads),
    },
  };
}
