import type { AgentConfig } from '../../lib/config/schema.js';
import type { Thread } from '../../lib/threads/model.js';
import type { Turn } from '../../lib/turns/model.js';

/** A fixed clock for the pure lifecycle decisions. */
export const NOW = new Date('2026-06-01T12:00:00.000Z');

/** A live, free thread of agent "data" with some history. */
export function aThread(overrides: Partial<Thread> = {}): Thread {
  return {
    tenant: 'acme',
    sessionKey: 's1',
    threadId: 'thr_1',
    agent: 'data',
    mode: 'thread-bound',
    status: 'active',
    generation: 2,
    version: 7,
    createdAt: '2026-05-01T00:00:00.000Z',
    lastActiveAt: '2026-06-01T11:00:00.000Z',
    turnCount: 3,
    messageSeq: 6,
    memoryFloorSeq: 0,
    queueSeq: 4,
    queuedTurns: 0,
    fencingSeq: 3,
    metadata: {},
    auditSeq: 5,
    auditHash: 'h5',
    ...overrides,
  };
}

/** An agent with a 30 s timeout, two concurrent turns and a one-day memory of three exchanges. */
export function anAgent(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    mode: 'thread-bound',
    models: [],
    maxActiveThreads: 10,
    maxConcurrentTurns: 2,
    timeout: '30s',
    autoDestroy: false,
    memory: { maxTurns: 3, maxAge: '1d', maxBytes: 10_000 },
    subAgents: [],
    maxChildren: 0,
    maxSpawnDepth: 0,
    tools: { allow: [], deny: [], maxIterations: 5, httpAllowHosts: [] },
    secrets: [],
    renamedFrom: [],
    ...overrides,
  } as AgentConfig;
}

/** A queued turn of aThread(). */
export function aTurn(overrides: Partial<Turn> = {}): Turn {
  return {
    tenant: 'acme',
    sessionKey: 's1',
    threadId: 'thr_1',
    turnId: 'turn_a',
    agent: 'data',
    status: 'queued',
    input: 'hello',
    generation: 2,
    createdAt: '2026-06-01T11:59:00.000Z',
    ...overrides,
  };
}
