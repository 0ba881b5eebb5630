import type { AgentConfig } from '../config/schema.js';
import {
  completeWithChain,
  type ProviderContext,
  type ProviderHealth,
  type ProviderResolver,
} from '../models/model-chain.js';
import type { ModelReply, ModelRequest, ToolCall, ToolResult, ToolStep } from '../models/port.js';
import { SecretError } from '../secrets/errors.js';
import type { SecretRequester } from '../secrets/ports.js';
import type { Redactor } from '../secrets/redactor.js';
import type { SecretResolver } from '../secrets/resolver.js';
import { SPAWN_TOOL } from '../tools/builtins.js';
import { ToolError } from '../tools/port.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { ToolTrace, TraceRecorder } from '../turns/trace.js';
import type { TurnRef } from '../workflows/turn-workflow.js';
import type { AgentEvents, TurnScope } from './events.js';

/** What the tool loop talks to: the model providers, the agent's secrets, its tools, and the audit events. */
export interface ToolLoopDeps {
  providers: ProviderResolver;
  secrets: SecretResolver | undefined;
  redactor: Redactor;
  tools: ToolRegistry | undefined;
  events: AgentEvents | undefined;
  health: ProviderHealth | undefined;
  now: () => Date;
}

/** One agent's conversation with its model chain: rounds of tool calls until an answer or a plan. */
export class ToolLoop {
  constructor(private readonly deps: ToolLoopDeps) {}

  /**
   * Asks the agent's model chain, with the agent's own secrets as credentials, and runs the tool
   * calls it makes (each checked against the agent's tool permissions first; a denied call does not
   * run, is audited, and the model gets the reason as an error result) for at most
   * `tools.maxIterations` rounds. `spawn` calls of the main phase become the fan-out plan. Every
   * known secret value is scrubbed from the answer before anything stores, returns or logs it.
   */
  async ask(
    agent: AgentConfig,
    request: Omit<ModelRequest, 'signal'>,
    timeoutSeconds: number,
    turn: Pick<TurnRef, 'tenant' | 'sessionKey' | 'turnId'>,
    trace: TraceRecorder,
  ): Promise<ModelReply> {
    const scope: TurnScope = {
      agent: request.agent,
      tenant: turn.tenant,
      sessionKey: turn.sessionKey,
      turnId: turn.turnId,
    };
    const requester: SecretRequester = scope;
    const secrets = this.deps.secrets;
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
    const deadline = this.deps.now().getTime() + timeoutSeconds * 1000;
    const signal = AbortSignal.timeout(timeoutSeconds * 1000);
    // Handing work to sub-agents is allowed by `subAgents` itself (the contract's allow list for it);
    // `tools.deny: ["spawn"]` takes it away, and only the main phase may plan.
    const mayPlan = request.role === 'main' && request.subAgents.length > 0 && !agent.tools.deny.includes(SPAWN_TOOL);
    const spawnSpec = mayPlan ? this.deps.tools?.spec(SPAWN_TOOL) : undefined;
    const offered = [
      ...(this.deps.tools?.offered(agent) ?? []).filter((tool) => tool.name !== SPAWN_TOOL),
      ...(spawnSpec ? [spawnSpec] : []),
    ];
    const steps: ToolStep[] = [];
    for (let round = 1; ; round += 1) {
      const { reply } = await completeWithChain(
        agent.models,
        { ...request, ...(offered.length > 0 ? { tools: offered } : {}), steps: [...steps], signal },
        this.deps.providers,
        context,
        {
          deadline,
          ...(this.deps.health ? { health: this.deps.health } : {}),
          onAttempt: (attempt) => trace.model(attempt),
          onFallback: (fallback) =>
            this.deps.events?.modelFallback(scope, { ...fallback, at: this.deps.now().toISOString() }) ??
            Promise.resolve(),
        },
      );
      const calls = reply.toolCalls ?? [];
      if (reply.plan && !mayPlan) {
        // A model that plans by itself (offline) is held to the same permission as the spawn tool.
        const reason = 'this agent may not hand work to sub-agents (spawn is not allowed)';
        trace.tool({ name: SPAWN_TOOL, allowed: false, outcome: 'denied', reason });
        await this.deps.events?.toolDenied(scope, { tool: SPAWN_TOOL, reason, at: this.deps.now().toISOString() });
        // The plan's text announces a hand-off that will not happen: say what did.
        return this.deps.redactor.redactDeep({
          text: 'The answer needed sub-agents, which this agent may not use (spawn is not allowed).',
          model: reply.model,
        });
      }
      if (calls.length === 0) return this.deps.redactor.redactDeep(reply);
      const spawns = calls.filter((call) => call.name === SPAWN_TOOL);
      if (mayPlan && spawns.length > 0) {
        const plan = spawns.map((call) => ({
          agent: String(call.input.agent ?? ''),
          task: String(call.input.task ?? ''),
        }));
        for (const call of spawns) trace.tool({ name: call.name, allowed: true, outcome: 'ok' });
        return this.deps.redactor.redactDeep({ text: reply.text, plan, model: reply.model });
      }
      if (round > agent.tools.maxIterations) {
        const text =
          reply.text.trim() ||
          `The agent stopped after ${agent.tools.maxIterations} rounds of tool calls without a final answer.`;
        return this.deps.redactor.redactDeep({ text, model: reply.model });
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
    const decision = this.deps.tools?.decide(agent, call.name) ?? {
      allowed: false as const,
      reason: 'no tools are available',
    };
    if (!decision.allowed || call.name === SPAWN_TOOL) {
      const reason = decision.allowed
        ? 'spawn is only available to the main phase of an agent with sub-agents'
        : decision.reason;
      await this.deps.events?.toolDenied(scope, { tool: call.name, reason, at: this.deps.now().toISOString() });
      return {
        result: { id: call.id, name: call.name, content: `denied: ${reason}`, isError: true },
        entry: { name: call.name, allowed: false, outcome: 'denied', reason },
      };
    }
    const started = this.deps.now().getTime();
    try {
      const content = await decision.tool.run(call.input, {
        ...scope,
        httpAllowHosts: agent.tools.httpAllowHosts,
        signal,
      });
      // A tool's output goes to the model provider: it leaves the process too.
      return {
        result: { id: call.id, name: call.name, content: this.deps.redactor.redact(content) },
        entry: { name: call.name, allowed: true, outcome: 'ok', ms: this.deps.now().getTime() - started },
      };
    } catch (error) {
      const message =
        error instanceof ToolError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
      return {
        result: {
          id: call.id,
          name: call.name,
          content: this.deps.redactor.redact(`error: ${message}`),
          isError: true,
        },
        // The error's short message only (the recorder caps it), as the reason.
        entry: {
          name: call.name,
          allowed: true,
          outcome: 'error',
          reason: message,
          ms: this.deps.now().getTime() - started,
        },
      };
    }
  }
}
