import type { MemoryMessage, ModelRequest } from './port.js';

/** The system prompt of each role (shared by every provider of the chain). */
export const SYSTEM_PROMPTS: Record<ModelRequest['role'], (request: ModelRequest) => string> = {
  main: (request) =>
    [
      `You are the agent "${request.agent}". Answer the user's last message in plain text.`,
      request.subAgents.length > 0 && request.tools?.some((tool) => tool.name === 'spawn')
        ? `You may hand parts of the work to your sub-agents (${request.subAgents.join(', ')}) with the spawn tool, one call per sub-agent; their answers are then merged into one reply.`
        : request.subAgents.length > 0
          ? `This agent has sub-agents (${request.subAgents.join(', ')}), but handing work to them is not available here: answer yourself.`
          : '',
      request.tools && request.tools.length > 0
        ? 'Use the tools when they help; a tool result marked as an error tells you why it did not run.'
        : '',
    ]
      .filter(Boolean)
      .join(' '),
  sub: (request) =>
    `You are the sub-agent "${request.agent}". Another agent handed you the task in the last user message. Do it and reply with the result in plain text.`,
  coalesce: (request) =>
    `You are the agent "${request.agent}". Sub-agents worked on the user's request; their outcomes are given as JSON in the last user message. Merge them into one answer to the request, in plain text. Say plainly what is missing when a sub-agent failed or timed out.`,
};

/** A user or assistant turn of plain text. */
export type Turn = { role: 'user' | 'assistant'; content: string };

/**
 * The thread's memory as alternating turns (consecutive messages of one role joined, empty ones
 * skipped, a leading assistant message dropped: the conversation starts with the user), then
 * `last` as the final user turn. Every provider wants this shape (many chat templates behind
 * OpenAI-compatible servers and Converse insist on it).
 */
export function alternatingTurns(memory: MemoryMessage[], last: string): Turn[] {
  const turns: Turn[] = [];
  for (const message of [...memory, { role: 'user' as const, content: last }]) {
    if (message.content.trim() === '') continue;
    const previous = turns.at(-1);
    if (!previous && message.role === 'assistant') continue;
    if (previous?.role === message.role) previous.content = `${previous.content}\n\n${message.content}`;
    else turns.push({ role: message.role, content: message.content });
  }
  return turns;
}

/** The last user message of a request: the input, or for coalesce the input with the sub-agent results as JSON. */
export function lastUserMessage(request: ModelRequest): string {
  if (request.role !== 'coalesce') return request.input;
  const results = (request.results ?? []).map(({ agent, status, reply, error }) => ({ agent, status, reply, error }));
  return `Request:\n${request.input}\n\nSub-agent results (JSON):\n${JSON.stringify(results, null, 2)}`;
}
