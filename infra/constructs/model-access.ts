import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { AgentConfig } from '../../lib/config/schema.js';
import type { ThreadboundFunction } from './threadbound-function.js';

/** Region-group prefixes of Bedrock cross-region inference profiles ("us.anthropic.claude-…"). */
const INFERENCE_PROFILE_PREFIX = /^(us|eu|apac|us-gov|global)\./;

/**
 * Lets an agent's function call exactly the Bedrock models its `models` name (Converse needs
 * `bedrock:InvokeModel`): a foundation model in the stack's region, or an inference profile of this
 * account plus the foundation model it routes to. Nothing for an agent without `bedrock:` models.
 */
export function grantModelAccess(fn: ThreadboundFunction, agent: Pick<AgentConfig, 'models'>): void {
  const modelIds = agent.models
    .filter((model) => model.startsWith('bedrock:'))
    .map((model) => model.slice('bedrock:'.length));
  if (modelIds.length === 0) return;
  const stack = Stack.of(fn);
  const resources = modelIds.flatMap((id) => {
    const profile = INFERENCE_PROFILE_PREFIX.exec(id);
    if (!profile) return [`arn:${stack.partition}:bedrock:${stack.region}::foundation-model/${id}`];
    // A cross-region profile sends the request to the model in any region of its group.
    return [
      `arn:${stack.partition}:bedrock:${stack.region}:${stack.account}:inference-profile/${id}`,
      `arn:${stack.partition}:bedrock:*::foundation-model/${id.slice(profile[0].length)}`,
    ];
  });
  const statement = new iam.PolicyStatement({ actions: ['bedrock:InvokeModel'], resources });
  fn.role.addToPolicy(statement);
  const defaultPolicy = fn.role.node.tryFindChild('DefaultPolicy') ?? fn.role;
  for (const id of modelIds) {
    const profile = INFERENCE_PROFILE_PREFIX.exec(id);
    if (!profile) continue;
    Validations.of(defaultPolicy).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${id.slice(profile[0].length)}]`,
      reason:
        'A Bedrock cross-region inference profile routes each request to the named foundation model in whichever region of its group has capacity, so the region part must be "*"; the model id itself is exact, and only bedrock:InvokeModel is allowed.',
    });
  }
}
