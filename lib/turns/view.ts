import type { Message, Turn } from './model.js';
import type { TurnTrace } from './trace.js';

/** A turn as API clients see it. */
export interface TurnView {
  turnId: string;
  sessionKey: string;
  agent: string;
  status: Turn['status'];
  input: string;
  idempotencyKey?: string;
  /** The single coalesced reply, once the turn succeeded. */
  reply?: string;
  error?: string;
  subAgents?: Turn['subAgents'];
  /** How it ran: models tried, tools called, secret names used, per phase (sub-agents' on their outcomes). */
  trace?: TurnTrace;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
}

/** Projects a stored turn to its client view. */
export function turnView(turn: Turn): TurnView {
  return {
    turnId: turn.turnId,
    sessionKey: turn.sessionKey,
    agent: turn.agent,
    status: turn.status,
    input: turn.input,
    ...(turn.idempotencyKey ? { idempotencyKey: turn.idempotencyKey } : {}),
    ...(turn.reply !== undefined ? { reply: turn.reply } : {}),
    ...(turn.error !== undefined ? { error: turn.error } : {}),
    ...(turn.subAgents && turn.subAgents.length > 0 ? { subAgents: turn.subAgents } : {}),
    ...(turn.trace ? { trace: turn.trace } : {}),
    createdAt: turn.createdAt,
    ...(turn.startedAt ? { startedAt: turn.startedAt } : {}),
    ...(turn.endedAt ? { endedAt: turn.endedAt } : {}),
  };
}

/** A message as API clients see it. */
export function messageView(message: Message) {
  return {
    seq: message.seq,
    role: message.role,
    content: message.content,
    turnId: message.turnId,
    agent: message.agent,
    createdAt: message.createdAt,
  };
}
