import { durationSeconds } from '../config/duration.js';
import type { AgentConfig, Config } from '../config/schema.js';
import type { Redactor } from '../secrets/redactor.js';
import type { Thread } from '../threads/model.js';
import type { ThreadStore } from '../threads/ports.js';
import type { ThreadService } from '../threads/service.js';
import { TurnError } from '../turns/errors.js';
import { loadMemory } from '../turns/memory.js';
import type { SubAgentOutcome } from '../turns/model.js';
import { idempotentTurnId, type TurnService } from '../turns/service.js';
import {
  type PhaseTrace,
  retriedByWorkflow,
  TraceRecorder,
  type TurnTrace,
  withinTraceBudget,
} from '../turns/trace.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import { auditPlanRefusal, type PlanItem, planRefusal } from './plan.js';
import { childOutcome, normaliseResult, type RawSubResult, withChildTrace } from './results.js';
import type { ToolLoop } from './tool-loop.js';

/** What the main phase hands to the workflow: a direct reply or a plan, with how the phase ran. */
export type MainResult =
  | { kind: 'reply'; reply: string; trace: TurnTrace }
  /** coalesceTimeoutSeconds: the merging agent's own budget, so its Lambda never times out before the state does. */
  | { kind: 'plan'; plan: PlanItem[]; coalesceWith: string; coalesceTimeoutSeconds: number; trace: TurnTrace };

/** What the coalesce phase hands to the workflow: the turn's one reply, every sub-agent's outcome, the turn's trace. */
export interface CoalesceResult {
  reply: string;
  subAgents: SubAgentOutcome[];
  trace: TurnTrace;
}

/** The three phases of a turn an agent runs: main (answer or plan), sub (one task), coalesce (one reply from the sub-agents' answers). */
export class AgentPhases {
  constructor(
    private readonly config: Config,
    private readonly store: ThreadStore,
    private readonly threads: ThreadService,
    private readonly turns: TurnService,
    private readonly loop: ToolLoop,
    private readonly redactor: Redactor,
    private readonly now: () => Date,
  ) {}

  /** The thread's agent answers, or plans a fan-out within its subAgents, maxChildren and maxSpawnDepth. */
  async main(ref: TurnRef): Promise<MainResult> {
    const recorder = this.recorder('main', ref.agent);
    try {
      const { thread, input, userSeq } = await this.leased(ref);
      const agent = this.agent(thread.agent);
      const memory = await loadMemory(this.store, thread, agent.memory, this.now(), userSeq);
      const reply = await this.loop.ask(
        agent,
        { agent: thread.agent, role: 'main', input, memory, subAgents: agent.subAgents },
        ref.timeoutSeconds,
        ref,
        recorder,
      );
      if (!reply.plan || reply.plan.length === 0)
        return { kind: 'reply', reply: reply.text, trace: this.turnTrace(recorder) };

      const refusal = planRefusal(thread, agent, reply.plan, reply.coalesceWith);
      if (refusal) {
        await auditPlanRefusal(
          this.store,
          this.now,
          thread,
          ref,
          refusal,
          reply.plan.map((p) => p.agent),
          async () => (await this.leased(ref)).thread,
        );
        return {
          kind: 'reply',
          reply: `The plan was refused and not run: ${refusal}.`,
          trace: this.turnTrace(recorder),
        };
      }
      const budget = (name: string) => Math.min(durationSeconds(this.agent(name).timeout), ref.timeoutSeconds);
      const coalesceWith = reply.coalesceWith ?? thread.agent;
      return {
        kind: 'plan',
        plan: reply.plan.map((p) => ({
          agent: p.agent,
          task: p.task,
          sessionKey: `${thread.sessionKey}:${p.agent}`,
          timeoutSeconds: budget(p.agent),
        })),
        coalesceWith,
        coalesceTimeoutSeconds: budget(coalesceWith),
        trace: this.turnTrace(recorder),
      };
    } catch (error) {
      await this.keepTrace(ref, this.turnTrace(recorder), error);
      throw error;
    }
  }

  /**
   * A sub-agent does its task as a turn of its own child thread: one turn at a time there too, its
   * memory kept across the parent's turns, every write fenced by the parent turn's lease.
   */
  async sub(ref: TurnRef, item: PlanItem): Promise<SubAgentOutcome> {
    const { thread: parent } = await this.leased(ref);
    const agent = this.agent(item.agent);
    const child = await this.threads.ensureChild(parent, item.agent, ref.turnId);
    const guard = {
      tenant: ref.tenant,
      sessionKey: ref.sessionKey,
      turnId: ref.turnId,
      fencingToken: ref.fencingToken,
    };
    // One child turn per parent turn: a retried item finds the turn of its first attempt.
    const started = await this.turns.claimInline(
      child.tenant,
      child.sessionKey,
      idempotentTurnId(child.threadId, ref.turnId),
      item.task,
      guard,
      item.timeoutSeconds,
    );
    // A retry whose first attempt finished reports that attempt (its trace stays on the child turn).
    if ('finished' in started) return childOutcome(started.finished);
    const { claimed, thread, turn } = started;
    const recorder = this.recorder('sub', item.agent);
    try {
      const memory = await loadMemory(this.store, thread, agent.memory, this.now(), turn.userSeq);
      const reply = await this.loop.ask(
        agent,
        { agent: item.agent, role: 'sub', input: item.task, memory, subAgents: [] },
        item.timeoutSeconds,
        { tenant: child.tenant, sessionKey: child.sessionKey, turnId: turn.turnId },
        recorder,
      );
      const trace = this.turnTrace(recorder);
      await this.turns.finish(claimed, { status: 'succeeded', reply: reply.text, subAgents: [], trace }, guard);
      return childOutcome({
        ...turn,
        status: 'succeeded',
        reply: reply.text,
        endedAt: this.now().toISOString(),
        trace,
      });
    } catch (error) {
      // The child turn keeps what the phase collected: the coalesce phase reads it back from there.
      await this.turns.finish(claimed, {
        status: 'failed',
        error: `${(error as Error).name}: ${(error as Error).message}`.slice(0, 500),
        trace: this.turnTrace(recorder),
      });
      throw error;
    }
  }

  /**
   * Merges every sub-agent result, noting those that failed or timed out, into the turn's one reply;
   * the turn's trace is the main phase's (`mainTrace`, from the plan) followed by this one. Each
   * sub-agent's phase trace is read from its child turn (the Map items carry none), within SUB_TRACES_BUDGET.
   */
  async coalesce(
    ref: TurnRef,
    coalesceWith: string,
    results: RawSubResult[],
    timeoutSeconds = ref.timeoutSeconds,
    mainTrace: TurnTrace = { phases: [] },
  ): Promise<CoalesceResult> {
    const recorder = this.recorder('coalesce', coalesceWith);
    const traceSoFar = (): TurnTrace => ({ phases: [...mainTrace.phases, ...this.turnTrace(recorder).phases] });
    try {
      const { thread, input, userSeq } = await this.leased(ref);
      const agent = this.agent(coalesceWith);
      const subAgents = withinTraceBudget(
        await Promise.all(results.map((result) => withChildTrace(this.store, ref, normaliseResult(result)))),
      );
      const memory = await loadMemory(this.store, thread, agent.memory, this.now(), userSeq);
      const reply = await this.loop.ask(
        agent,
        { agent: coalesceWith, role: 'coalesce', input, memory, subAgents: [], results: subAgents },
        timeoutSeconds,
        ref,
        recorder,
      );
      return { reply: reply.text, subAgents, trace: traceSoFar() };
    } catch (error) {
      await this.keepTrace(ref, traceSoFar(), error);
      throw error;
    }
  }

  /** A recorder for one phase's trace, scrubbing reasons with this runtime's redactor. */
  private recorder(phase: PhaseTrace['phase'], agent: string): TraceRecorder {
    return new TraceRecorder(phase, agent, { now: this.now, redact: (text) => this.redactor.redact(text) });
  }

  /** The recorded phase as a turn trace, redacted like every other output of the runtime. */
  private turnTrace(recorder: TraceRecorder): TurnTrace {
    return this.redactor.redactDeep({ phases: [recorder.finish()] });
  }

  /**
   * Best effort: the trace explains a failure, it must never replace the error being thrown. Not for
   * an error the workflow retries (DynamoDB throttling): more reads and a transaction would load a
   * throttled table and bump the thread's version under concurrent writers, and the retry traces anew.
   */
  private async keepTrace(ref: TurnRef, trace: TurnTrace, error: unknown): Promise<void> {
    if (retriedByWorkflow(error)) return;
    await this.turns.keepTrace(ref, trace).catch(() => undefined);
  }

  /** The thread and turn, only while this turn still holds the thread's lease (fencing). */
  private async leased(ref: TurnRef): Promise<{ thread: Thread; input: string; userSeq?: number }> {
    const [thread, turn] = await Promise.all([
      this.store.get(ref.tenant, ref.sessionKey),
      this.store.getTurn(ref.tenant, ref.sessionKey, ref.turnId),
    ]);
    if (!thread || !turn || thread.lease?.turnId !== ref.turnId || thread.lease.fencingToken !== ref.fencingToken) {
      throw new TurnError('stale_turn', `turn ${ref.turnId} no longer holds the lease of thread "${ref.sessionKey}"`, {
        turnId: ref.turnId,
      });
    }
    return { thread, input: turn.input, ...(turn.userSeq !== undefined ? { userSeq: turn.userSeq } : {}) };
  }

  private agent(name: string): AgentConfig {
    const agent = this.config.agents[name];
    if (!agent) throw new TurnError('agent_unavailable', `agent "${name}" is not configured`, { agent: name });
    return agent;
  }
}
