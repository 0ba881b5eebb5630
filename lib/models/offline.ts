import type { ModelProvider, ModelReply, ModelRequest } from './port.js';

const MAX_QUOTE = 120;

const quote = (text: string) => JSON.stringify(text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE)}…` : text);

/** What each demo agent answers when it runs offline; any other agent gets a generic answer. */
const SUB_AGENT_ANSWERS: Record<string, (task: string) => string> = {
  data: (task) =>
    `Collected 30 daily closes for ${quote(task)} (offline sample series: first 100.0, last 112.4, change +12.4 %).`,
  analysis: (task) =>
    `Trend for ${quote(task)}: upward; the 7-day average is above the 30-day average (offline heuristic).`,
  trading: (task) => `Trading view for ${quote(task)}: hold, add on dips (offline rule of thumb, not advice).`,
};

/**
 * The deterministic provider used when no real model is configured or reachable: no key, no
 * network. Every reply is labelled "[offline]". As a main agent it plans a fan-out when the input
 * names sub-agents ("@data …") or asks for an analysis, so the whole workflow runs offline.
 */
export class OfflineProvider implements ModelProvider {
  readonly id: string = 'offline';

  protected label(agent: string): string {
    return `[offline ${agent}]`;
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const label = this.label(request.agent);
    const remembered = request.memory.length;
    if (request.role === 'main') {
      const plan = this.plan(request);
      if (plan)
        return {
          ...plan,
          text: `${label} handing the work to ${plan.plan.map((p) => p.agent).join(', ')}`,
          model: this.id,
        };
      return {
        text: `${label} You said ${quote(request.input)}. This thread holds ${remembered} earlier message(s).`,
        model: this.id,
      };
    }
    if (request.role === 'sub') {
      const answer = SUB_AGENT_ANSWERS[request.agent]?.(request.input) ?? `Done: ${quote(request.input)}.`;
      return { text: `${label} ${answer} (${remembered} earlier message(s) in my thread)`, model: this.id };
    }
    const results = request.results ?? [];
    const lines = results.map((r) =>
      r.status === 'succeeded'
        ? `- ${r.agent}: ${r.reply}`
        : `- ${r.agent}: not available (${r.status === 'timed_out' ? 'timed out' : `failed: ${r.error}`})`,
    );
    const merged = SUB_AGENT_ANSWERS[request.agent] ? `\n${SUB_AGENT_ANSWERS[request.agent]!(request.input)}` : '';
    return {
      text: `${label} Combined answer to ${quote(request.input)}:\n${lines.join('\n')}${merged}`,
      model: this.id,
    };
  }

  private plan(request: ModelRequest): { plan: NonNullable<ModelReply['plan']>; coalesceWith?: string } | undefined {
    if (request.subAgents.length === 0) return undefined;
    const mentioned = request.subAgents.filter((agent) => new RegExp(`@${agent}\\b`).test(request.input));
    const task = request.input
      .replace(/@[a-z][a-z0-9-]*/g, '')
      .replace(/\s+/g, ' ')
      .trim();
    if (mentioned.length > 0) return { plan: mentioned.map((agent) => ({ agent, task })) };
    const wanted = ['data', 'analysis'].filter((agent) => request.subAgents.includes(agent));
    if (/\b(analy[sz]e|analysis|trend)\b/i.test(request.input) && wanted.length > 0) {
      return {
        plan: wanted.map((agent) => ({ agent, task })),
        ...(request.subAgents.includes('trading') ? { coalesceWith: 'trading' } : {}),
      };
    }
    return undefined;
  }
}
