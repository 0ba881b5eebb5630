import type { Config } from '../config/schema.js';
import { builtInProviders, type ProviderHealth, type ProviderResolver } from '../models/model-chain.js';
import { processRedactor, type Redactor } from '../secrets/redactor.js';
import type { SecretResolver } from '../secrets/resolver.js';
import type { ThreadStore } from '../threads/ports.js';
import type { ThreadService } from '../threads/service.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { SubAgentOutcome } from '../turns/model.js';
import type { TurnService } from '../turns/service.js';
import type { TurnTrace } from '../turns/trace.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import type { AgentEvents } from './events.js';
import { AgentPhases, type CoalesceResult, type MainResult } from './phases.js';
import type { PlanItem } from './plan.js';
import type { RawSubResult } from './results.js';
import { ToolLoop } from './tool-loop.js';

export type { CoalesceResult, MainResult } from './phases.js';
export type { PlanItem } from './plan.js';
export type { RawSubResult } from './results.js';

/** Runs an agent's part of a turn: the main answer or plan, a sub-agent task, or the coalesce phase. */
export class AgentRuntime {
  private readonly phases: AgentPhases;

  constructor(
    config: Config,
    store: ThreadStore,
    threads: ThreadService,
    turns: TurnService,
    options: {
      providers?: ProviderResolver;
      secrets?: SecretResolver;
      redactor?: Redactor;
      tools?: ToolRegistry;
      events?: AgentEvents;
      health?: ProviderHealth;
      now?: () => Date;
    } = {},
  ) {
    const redactor = options.redactor ?? processRedactor;
    const now = options.now ?? (() => new Date());
    const loop = new ToolLoop({
      providers: options.providers ?? builtInProviders,
      secrets: options.secrets,
      redactor,
      tools: options.tools,
      events: options.events,
      health: options.health,
      now,
    });
    this.phases = new AgentPhases(config, store, threads, turns, loop, redactor, now);
  }

  /** The thread's agent answers, or plans a fan-out within its subAgents, maxChildren and maxSpawnDepth. */
  main(ref: TurnRef): Promise<MainResult> {
    return this.phases.main(ref);
  }

  /**
   * A sub-agent does its task as a turn of its own child thread: one turn at a time there too, its
   * memory kept across the parent's turns, every write fenced by the parent turn's lease.
   */
  sub(ref: TurnRef, item: PlanItem): Promise<SubAgentOutcome> {
    return this.phases.sub(ref, item);
  }

  /**
   * Merges every sub-agent result, noting those that failed or timed out, into the turn's one reply;
   * the turn's trace is the main phase's (`mainTrace`, from the plan) followed by this one.
   */
  coalesce(
    ref: TurnRef,
    coalesceWith: string,
    results: RawSubResult[],
    timeoutSeconds = ref.timeoutSeconds,
    mainTrace: TurnTrace = { phases: [] },
  ): Promise<CoalesceResult> {
    return this.phases.coalesce(ref, coalesceWith, results, timeoutSeconds, mainTrace);
  }
}
