import { describe, expect, it } from 'vitest';
import { planRefusal } from '../../lib/agents/plan.js';

// The fan-out plan checks, pure: the main phase refuses (and audits) a plan that fails any of them.

const lead = { subAgents: ['alpha', 'beta'], maxChildren: 2, maxSpawnDepth: 1 };
const root = { agent: 'lead' };
const items = (...agents: string[]) => agents.map((agent) => ({ agent }));
/** A child thread of lead's at the given depth. */
const childAt = (depth: number) => ({
  agent: 'lead',
  lineage: { parentSessionKey: 'root', parentTurnId: 'turn_1', depth },
});

describe('planRefusal', () => {
  it('accepts a plan within subAgents, maxChildren and maxSpawnDepth', () => {
    expect(planRefusal(root, lead, items('alpha', 'beta'), undefined)).toBeUndefined();
    expect(planRefusal(root, lead, items('alpha'), 'lead')).toBeUndefined();
    expect(planRefusal(root, lead, items('alpha'), 'beta')).toBeUndefined();
  });

  it('refuses an agent outside subAgents, naming every such agent and the allow list', () => {
    expect(planRefusal(root, lead, items('alpha', 'gamma', 'delta'), undefined)).toBe(
      'agent "lead" may not hand work to "gamma", "delta" (subAgents: alpha, beta)',
    );
    expect(planRefusal(root, { ...lead, subAgents: [] }, items('alpha'), undefined)).toBe(
      'agent "lead" may not hand work to "alpha" (subAgents: none)',
    );
  });

  it('refuses more children than maxChildren', () => {
    expect(planRefusal(root, { ...lead, maxChildren: 1 }, items('alpha', 'beta'), undefined)).toBe(
      'the plan has 2 sub-agents; maxChildren is 1',
    );
  });

  it('refuses a plan naming an agent twice', () => {
    expect(planRefusal(root, { ...lead, maxChildren: 3 }, items('alpha', 'alpha'), undefined)).toBe(
      'the plan names a sub-agent twice (each works in one child thread)',
    );
  });

  it('refuses a spawn deeper than maxSpawnDepth', () => {
    expect(planRefusal(childAt(1), lead, items('alpha'), undefined)).toBe(
      'spawn depth 2 exceeds maxSpawnDepth 1 of agent "lead"',
    );
    expect(planRefusal(root, { ...lead, maxSpawnDepth: 0 }, items('alpha'), undefined)).toBe(
      'spawn depth 1 exceeds maxSpawnDepth 0 of agent "lead"',
    );
  });

  it('refuses a merging agent that is neither the thread agent nor one of its subAgents', () => {
    expect(planRefusal(root, lead, items('alpha'), 'gamma')).toBe('agent "gamma" may not merge for "lead"');
  });

  it('checks depth first, then the allow list, then the count', () => {
    expect(planRefusal(childAt(5), lead, items('gamma', 'gamma', 'gamma'), 'x')).toMatch(/^spawn depth 6/);
    expect(planRefusal(root, lead, items('gamma', 'alpha', 'beta'), 'x')).toMatch(/may not hand work to "gamma"/);
  });
});
