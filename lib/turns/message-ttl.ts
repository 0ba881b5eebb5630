import { durationMs } from '../config/duration.js';
import type { AgentConfig } from '../config/schema.js';

/** The TTL of a message: when memory.maxAge has passed, DynamoDB may delete it even if no trim ran. */
export function messageTtl(agent: AgentConfig | undefined, now: Date): { expiresAt?: number } {
  const maxAge = agent?.memory.maxAge;
  return maxAge ? { expiresAt: Math.ceil((now.getTime() + durationMs(maxAge)) / 1000) } : {};
}
