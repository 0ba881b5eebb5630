import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.js';
import { configSchema } from '../../lib/config/schema.js';
import {
  actionsOf,
  CONFIG_PATH,
  removeTempOutdirs,
  resourcesOf,
  roleIdOf,
  statementsOfRole,
  synth,
  unacknowledged,
} from '../support/infra.js';

// Bedrock models in agents' chains: each agent's role may invoke exactly the models it names.
afterAll(removeTempOutdirs);

describe('Bedrock model access', () => {
  it('grants bedrock:InvokeModel on exactly each agent’s Bedrock models (foundation model, or inference profile and its model), nothing to the others, cdk-nag clean', () => {
    const base = loadConfig(CONFIG_PATH);
    const config = configSchema.parse({
      ...base,
      agents: {
        ...Object.fromEntries(
          Object.entries(base.agents).map(([name, agent]) => [name, { ...agent, models: ['offline'], secrets: [] }]),
        ),
        data: { ...base.agents.data!, models: ['bedrock:amazon.nova-lite-v1:0', 'offline'], secrets: [] },
        analysis: {
          ...base.agents.analysis!,
          models: ['bedrock:us.anthropic.claude-sonnet-4-5-v1:0', 'offline'],
          secrets: [],
        },
      },
    });
    const { stack, template, report } = synth(config);
    const invokes = (agent: string) =>
      statementsOfRole(template, roleIdOf(stack, stack.turnWorkflow.agents.get(agent)!))
        .filter((statement) => actionsOf(statement).some((action) => action.startsWith('bedrock:')))
        .map((statement) => ({
          actions: actionsOf(statement),
          resources: resourcesOf(statement).map((r) => JSON.stringify(r)),
        }));
    const inRegion = (suffix: string) =>
      JSON.stringify({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:', { Ref: 'AWS::Region' }, suffix]],
      });
    expect(invokes('data')).toEqual([
      { actions: ['bedrock:InvokeModel'], resources: [inRegion('::foundation-model/amazon.nova-lite-v1:0')] },
    ]);
    const [profile] = invokes('analysis');
    expect(profile!.actions).toEqual(['bedrock:InvokeModel']);
    expect(profile!.resources).toHaveLength(2);
    expect(profile!.resources.join(' ')).toContain('inference-profile/us.anthropic.claude-sonnet-4-5-v1:0');
    expect(profile!.resources.join(' ')).toContain(':bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-v1:0');
    expect(invokes('main')).toEqual([]);
    expect(invokes('trading')).toEqual([]);
    expect(unacknowledged(report)).toEqual([]);
  });
});
