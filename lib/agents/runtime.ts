import { durationSeconds } from '../config/duration.js';
import type { AgentConfig, Config } from '../config/schema.js';
import {
  builtInProviders,
  completeWithChain,
  type ProviderContext,
  type ProviderHealth,
  type ProviderResolver,
} from '../models/chain.js';
import type { ModelReply, ModelRequest, ToolCall, ToolResult, ToolStep } from '../models/port.js';
import { SecretError } from '../secrets/errors.js';
import type { SecretRequester } from '../secrets/ports.js';
import { processRedactor, type Redactor } from '../secrets/redactor.js';
import type { SecretResolver } from '../secrets/resolver.js';
import { nextAuditEntry, withAuditHead } from '../threads/audit.js';
import type { Thread } from '../threads/model.js';
import { OPTIMISTIC_ATTEMPTS, optimisticBackoff } from '../threads/optimistic.js';
import type { ThreadStore } from '../threads/ports.js';
import type { ThreadService } from '../threads/service.js';
import { SPAWN_TOOL } from '../tools/builtins.js';
import { ToolError } from '../tools/port.js';
import type { ToolRegistry } from '../tools/registry.js';
import { TurnError } from '../turns/errors.js';
import { loadMemory } from '../turns/memory.js';
import type { SubAgentOutcome, Turn } from '../turns/model.js';
import { idempotentTurnId, type TurnService } from '../turns/service.js';
import {
  type PhaseTrace,
  retriedByWorkflow,
  type ToolTrace,
  TraceRecorder,
  type TurnTrace,
  withinTraceBudget,
} from '../turns/trace.js';
import { causeMessage, type TurnRef } from '../workflows/turn-workflow.js';
import type { AgentEvents, TurnScope } from './events.js';

/** One task of a fan-out plan, as the workflow's Map state passes it to a sub-agent. */
export interface PlanItem {
  agent: string;
  task: string;
  /** The sub-agent's child thread. */
  sessionKey: string;
  timeoutSeconds: number;
}

/** What the main phase hands to the workflow: a direct reply or a plan, with how the phase ran. */
export type MainResult =
  | { kind: 'reply'; reply: string; trace: TurnTrace }
  /** mergeTimeoutSeconds: the merging agent's own budget, so its Lambda never times out before the state does. */
  | { kind: 'plan'; plan: PlanItem[]; mergeWith: string; mergeTimeoutSeconds: number; trace: TurnTrace };

/** What the merge hands to the workflow: the turn's one reply, every sub-agent's outcome, the turn's trace. */
export interface CoalesceResult {
  reply: string;
  subAgents: SubAgentOutcome[];
  trace: TurnTrace;
}

/** A sub-agent result as the Map state collects it: an outcome, or the caught error of a failed item. */
export type RawSubResult =
  | SubAgentOutcome
  | { agent: string; sessionKey: string; status: 'failed'; error: { Error?: string; Cause?: string } };

/** Runs an agent's part of a turn: the main answer or plan, a sub-agent task, or the merge. */
export class AgentRuntime {
  private readonly now: () => Date;
  private readonly providers: ProviderResolver;
  private readonly secrets: SecretResolver | undefined;
  private readonly redactor: Redactor;
  private readonly tools: ToolRegistry | undefined;
  private readonly events: AgentEvents | undefined;
  private readonly health: ProviderHealth | undefined;

  constructor(
    private readonly config: Config,
    private readonly store: ThreadStore,
    private readonly threads: ThreadService,
    private readonly turns: TurnService,
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
    this.providers = options.providers ?? builtInProviders;
    this.tools = options.tools;
    this.events = options.events;
    this.health = options.health;
    this.secrets = options.secrets;
    this.redactor = options.redactor ?? processRedactor;
    this.now = options.now ?? (() => new Date());
  }

  /** The thread's agent answers, or plans a fan-out within its subAgents, maxChildren and maxSpawnDepth. */
  async main(ref: TurnRef): Promise<MainResult> {
    const recorder = this.recorder('main', ref.agent);
    try {
      const { thread, input, userSeq } = await this.leased(ref);
      const agent = this.agent(thread.agent);
      const memory = await loadMemory(this.store, thread, agent.memory, this.now(), userSeq);
      const reply = await this.ask(
        { agent: thread.agent, role: 'main', input, memory, subAgents: agent.subAgents },
        ref.timeoutSeconds,
        ref,
        recorder,
      );
      if (!reply.plan || reply.plan.length === 0)
        return { kind: 'reply', reply: reply.text, trace: this.turnTrace(recorder) };

      const refusal = this.planRefusal(thread, agent, reply.plan, reply.mergeWith);
      if (refusal) {
        await this.auditRefusal(
          thread,
          ref,
          refusal,
          reply.plan.map((p) => p.agent),
        );
        return {
          kind: 'reply',
          reply: `The plan was refused and not run: ${refusal}.`,
          trace: this.turnTrace(recorder),
        };
      }
      const budget = (name: string) => Math.min(durationSeconds(this.agent(name).timeout), ref.timeoutSeconds);
      const mergeWith = reply.mergeWith ?? thread.agent;
      return {
        kind: 'plan',
        plan: reply.plan.map((p) => ({
          agent: p.agent,
          task: p.task,
          sessionKey: `${thread.sessionKey}:${p.agent}`,
          timeoutSeconds: budget(p.agent),
        })),
        mergeWith,
        mergeTimeoutSeconds: budget(mergeWith),
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
      const reply = await this.ask(
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
      // The child turn keeps what the phase collected: the merge reads it back from there.
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
    mergeWith: string,
    results: RawSubResult[],
    timeoutSeconds = ref.timeoutSeconds,
    mainTrace: TurnTrace = { phases: [] },
  ): Promise<CoalesceResult> {
    const recorder = this.recorder('coalesce', mergeWith);
    const traceSoFar = (): TurnTrace => ({ phases: [...mainTrace.phases, ...this.turnTrace(recorder).phases] });
    try {
      const { thread, input, userSeq } = await this.leased(ref);
      const agent = this.agent(mergeWith);
      const subAgents = withinTraceBudget(
        await Promise.all(results.map((result) => this.withChildTrace(ref, normaliseResult(result)))),
      );
      const memory = await loadMemory(this.store, thread, agent.memory, this.now(), userSeq);
      const reply = await this.ask(
        { agent: mergeWith, role: 'coalesce', input, memory, subAgents: [], results: subAgents },
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

  /**
   * The outcome with the sub-agent's phase trace (and, for a failed or timed-out item, which carries
   * only the caught error, its timings) from its child turn (same id on every attempt): the Map items
   * carry no trace, so 256 KiB of workflow state holds many children. One read per item that names
   * its child turn (two for a caught error, whose turn id needs the child thread's), all items in
   * parallel; a child turn still running (the state timed out first) adds its start only.
   */
  private async withChildTrace(ref: TurnRef, outcome: SubAgentOutcome): Promise<SubAgentOutcome> {
    try {
      const turnId =
        outcome.turnId ??
        (await this.store
          .get(ref.tenant, outcome.sessionKey)
          .then((child) => child && idempotentTurnId(child.threadId, ref.turnId)));
      const turn = turnId && (await this.store.getTurn(ref.tenant, outcome.sessionKey, turnId));
      if (!turn) return outcome;
      const { status: _status, reply: _reply, error: _error, ...known } = childOutcome(turn);
      const trace = subTrace(turn);
      return { ...outcome, ...known, ...(trace ? { trace } : {}) };
    } catch {
      // The trace explains a failure; it must not cause one.
      return outcome;
    }
  }

  /**
   * Asks the agent's model chain, with the agent's own secrets as credentials, and runs the tool
   * calls it makes (each checked against the agent's tool permissions first; a denied call does not
   * run, is audited, and the model gets the reason as an error result) for at most
   * `tools.maxIterations` rounds. `spawn` calls of the main phase become the fan-out plan. Every
   * known secret value is scrubbed from the answer before anything stores, returns or logs it.
   */
  private async ask(
    request: Omit<ModelRequest, 'signal'>,
    timeoutSeconds: number,
    turn: Pick<TurnRef, 'tenant' | 'sessionKey' | 'turnId'>,
    trace: TraceRecorder,
  ): Promise<ModelReply> {
    const agent = this.agent(request.agent);
    const scope: TurnScope = {
      agent: request.agent,
      tenant: turn.tenant,
      sessionKey: turn.sessionKey,
      turnId: turn.turnId,
    };
    const requester: SecretRequester = scope;
    const secrets = this.secrets;
    const context: ProviderContext = {
      credentials: (secret) => ({
        apiKey: async (options) => {
          if (!secrets)
            throw new SecretError(
              'secret_unavailable',
              `no secret resolver is configured, so secret "${secret}" cannot be read`,
              { secret },
            );
          const { value, versionId } = await secrets.resolve(secret, requester, options);
          trace.secret(secret);
          return { value, versionId };
        },
      }),
    };
    const deadline = this.now().getTime() + timeoutSeconds * 1000;
    const signal = AbortSignal.timeout(timeoutSeconds * 1000);
    // Handing work to sub-agents is allowed by `subAgents` itself (the contract's allow list for it);
    // `tools.deny: ["spawn"]` takes it away, and only the main phase may plan.
    const mayPlan = request.role === 'main' && request.subAgents.length > 0 && !agent.tools.deny.includes(SPAWN_TOOL);
    const spawnSpec = mayPlan ? this.tools?.spec(SPAWN_TOOL) : undefined;
    const offered = [
      ...(this.tools?.offered(agent) ?? []).filter((tool) => tool.name !== SPAWN_TOOL),
      ...(spawnSpec ? [spawnSpec] : []),
    ];
    const steps: ToolStep[] = [];
    for (let round = 1; ; round += 1) {
      const { reply } = await completeWithChain(
        agent.models,
        { ...request, ...(offered.length > 0 ? { tools: offered } : {}), steps: [...steps], signal },
        this.providers,
        context,
        {
          deadline,
          ...(this.health ? { health: this.health } : {}),
          onAttempt: (attempt) => trace.model(attempt),
          onFallback: (fallback) =>
            this.events?.modelFallback(scope, { ...fallback, at: this.now().toISOString() }) ?? Promise.resolve(),
        },
      );
      const calls = reply.toolCalls ?? [];
      if (reply.plan && !mayPlan) {
        // A model that plans by itself (offline) is held to the same permission as the spawn tool.
        const reason = 'this agent may not hand work to sub-agents (spawn is not allowed)';
        trace.tool({ name: SPAWN_TOOL, allowed: false, outcome: 'denied', reason });
        await this.events?.toolDenied(scope, { tool: SPAWN_TOOL, reason, at: this.now().toISOString() });
        // The plan's text announces a hand-off that will not happen: say what did.
        return this.redactor.redactDeep({
          text: 'The answer needed sub-agents, which this agent may not use (spawn is not allowed).',
          model: reply.model,
        });
      }
      if (calls.length === 0) return this.redactor.redactDeep(reply);
      const spawns = calls.filter((call) => call.name === SPAWN_TOOL);
      if (mayPlan && spawns.length > 0) {
        const plan = spawns.map((call) => ({
          agent: String(call.input.agent ?? ''),
          task: String(call.input.task ?? ''),
        }));
        for (const call of spawns) trace.tool({ name: call.name, allowed: true, outcome: 'ok' });
        return this.redactor.redactDeep({ text: reply.text, plan, model: reply.model });
      }
      if (round > agent.tools.maxIterations) {
        const text =
          reply.text.trim() ||
          `The agent stopped after ${agent.tools.maxIterations} rounds of tool calls without a final answer.`;
        return this.redactor.redactDeep({ text, model: reply.model });
      }
      const ran = await Promise.all(calls.map((call) => this.runTool(agent, scope, call, signal)));
      // Recorded in call order, whichever finished first.
      for (const { entry } of ran) trace.tool(entry);
      steps.push({ text: reply.text, calls, results: ran.map(({ result }) => result) });
    }
  }

  /**
   * Runs one tool call if the agent may (checked here, before anything runs), else audits the denial.
   * `entry` is the call's trace: name and outcome, never its input or output.
   */
  private async runTool(
    agent: AgentConfig,
    scope: TurnScope,
    call: ToolCall,
    signal: AbortSignal,
  ): Promise<{ result: ToolResult; entry: ToolTrace }> {
    const decision = this.tools?.decide(agent, call.name) ?? {
      allowed: false as const,
      reason: 'no tools are available',
    };
    if (!decision.allowed || call.name === SPAWN_TOOL) {
      const reason = decision.allowed
        ? 'spawn is only available to the main phase of an agent with sub-agents'
        : decision.reason;
      await this.events?.toolDenied(scope, { tool: call.name, reason, at: this.now().toISOString() });
      return {
        result: { id: call.id, name: call.name, content: `denied: ${reason}`, isError: true },
        entry: { name: call.name, allowed: false, outcome: 'denied', reason },
      };
    }
    const started = this.now().getTime();
    try {
      const content = await decision.tool.run(call.input, {
        ...scope,
        httpAllowHosts: agent.tools.httpAllowHosts,
        signal,
      });
      // A tool's output goes to the model provider: it leaves the process too.
      return {
        result: { id: call.id, name: call.name, content: this.redactor.redact(content) },
        entry: { name: call.name, allowed: true, outcome: 'ok', ms: this.now().getTime() - started },
      };
    } catch (error) {
      const message =
        error instanceof ToolError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
      return {
        result: { id: call.id, name: call.name, content: this.redactor.redact(`error: ${message}`), isError: true },
        // The error's short message only (the recorder caps it), as the reason.
        entry: {
          name: call.name,
          allowed: true,
          outcome: 'error',
          reason: message,
          ms: this.now().getTime() - started,
        },
      };
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

  private planRefusal(
    thread: Thread,
    agent: AgentConfig,
    plan: { agent: string }[],
    mergeWith: string | undefined,
  ): string | undefined {
    const depth = (thread.lineage?.depth ?? 0) + 1;
    if (depth > agent.maxSpawnDepth)
      return `spawn depth ${depth} exceeds maxSpawnDepth ${agent.maxSpawnDepth} of agent "${thread.agent}"`;
    const notAllowed = plan.filter((p) => !agent.subAgents.includes(p.agent)).map((p) => p.agent);
    if (notAllowed.length > 0)
      return `agent "${thread.agent}" may not hand work to ${notAllowed.map((a) => `"${a}"`).join(', ')} (subAgents: ${agent.subAgents.join(', ') || 'none'})`;
    if (plan.length > agent.maxChildren)
      return `the plan has ${plan.length} sub-agents; maxChildren is ${agent.maxChildren}`;
    if (new Set(plan.map((p) => p.agent)).size !== plan.length)
      return 'the plan names a sub-agent twice (each works in one child thread)';
    if (mergeWith && mergeWith !== thread.agent && !agent.subAgents.includes(mergeWith))
      return `agent "${mergeWith}" may not merge for "${thread.agent}"`;
    return undefined;
  }

  private async auditRefusal(thread: Thread, ref: TurnRef, reason: string, agents: string[]): Promise<void> {
    for (let attempt = 0, current = thread; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
      await optimisticBackoff(attempt);
      const entry = nextAuditEntry(current, {
        type: 'plan_refused',
        at: this.now().toISOString(),
        tenant: current.tenant,
        actor: `turn:${ref.turnId}`,
        data: { turnId: ref.turnId, reason, agents },
      });
      if (
        (
          await this.store.transition(
            current,
            { ...withAuditHead(current, entry), version: current.version + 1 },
            entry,
            [],
          )
        ).ok
      )
        return;
      current = (await this.leased(ref)).thread;
    }
    // Never answer "refused" without the audit entry that says so.
    throw new TurnError('stale_turn', `the plan refusal of turn ${ref.turnId} could not be audited`, {
      turnId: ref.turnId,
    });
  }

  private agent(name: string): AgentConfig {
    const agent = this.config.agents[name];
    if (!agent) throw new TurnError('agent_unavailable', `agent "${name}" is not configured`, { agent: name });
    return agent;
  }
}

/** Longest sub-agent reply carried in the workflow's state (its 256 KiB limit); the child thread keeps it whole. */
const MAX_REPLY_IN_WORKFLOW = 8_000;

/** The sub-agent's phase trace its child turn kept. */
function subTrace(turn: Turn): PhaseTrace | undefined {
  return turn.trace?.phases.find((phase) => phase.phase === 'sub');
}

/**
 * What the workflow carries of a finished child turn: no phase trace (up to ~8 KB each, on every Map
 * item, would overflow the 256 KiB state with a dozen children); the merge reads it from the child turn.
 */
function childOutcome(turn: Turn): SubAgentOutcome {
  const reply =
    turn.reply && turn.reply.length > MAX_REPLY_IN_WORKFLOW
      ? `${turn.reply.slice(0, MAX_REPLY_IN_WORKFLOW)}… [truncated; the whole answer is in ${turn.sessionKey}]`
      : turn.reply;
  return {
    agent: turn.agent,
    sessionKey: turn.sessionKey,
    turnId: turn.turnId,
    status: turn.status === 'succeeded' ? 'succeeded' : turn.status === 'timed_out' ? 'timed_out' : 'failed',
    ...(reply !== undefined ? { reply } : {}),
    ...(turn.error !== undefined ? { error: turn.error } : {}),
    ...(turn.startedAt ? { startedAt: turn.startedAt } : {}),
    ...(turn.endedAt ? { endedAt: turn.endedAt } : {}),
    ...(turn.startedAt && turn.endedAt ? { durationMs: Date.parse(turn.endedAt) - Date.parse(turn.startedAt) } : {}),
  };
}

/** A caught Map item error becomes a failed or timed-out outcome with a short reason. */
function normaliseResult(result: RawSubResult): SubAgentOutcome {
  if (result.status !== 'failed' || typeof result.error !== 'object' || result.error === null)
    return result as SubAgentOutcome;
  const { Error: name = 'Error', Cause: cause } = result.error;
  if (name === 'States.Timeout')
    return {
      agent: result.agent,
      sessionKey: result.sessionKey,
      status: 'timed_out',
      error: 'the sub-agent did not answer within its timeout',
    };
  return {
    agent: result.agent,
    sessionKey: result.sessionKey,
    status: 'failed',
    error: `${name}: ${causeMessage(cause)}`.slice(0, 500),
  };
}
