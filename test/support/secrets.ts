import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type FakeAnthropic, startFakeAnthropic } from './fake-anthropic.js';
import { startTestStack, type TestStack, testAgent } from './local-stack.js';

/** A Secrets Manager client on a local endpoint (any credentials do). */
export function localSecretsManagerClient(endpoint: string): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** A test stack whose `main` agent runs on the fake Anthropic provider, and a client of its local Secrets Manager. */
export interface SecretsTestStack {
  fake: FakeAnthropic;
  stack: TestStack;
  sm: SecretsManagerClient;
  /** Destroys the client, stops the stack, drops its table and closes the fake provider. */
  stop(): Promise<void>;
}

/**
 * Starts the fake Anthropic provider accepting `acceptKeys`, and a test stack whose `main` agent runs
 * on `anthropic:claude-test` (falling back to `offline`) with the secrets `agentSecrets`; `secrets`,
 * when given, replaces the config's secrets. Then creates `values` (SecretId → value), in order, in
 * the stack's local Secrets Manager. Whatever started is stopped again when a step fails.
 */
export async function startSecretsTestStack(options: {
  acceptKeys: string[];
  agentSecrets: string[];
  secrets?: Record<string, unknown>;
  values: Record<string, string>;
}): Promise<SecretsTestStack> {
  let fake: FakeAnthropic | undefined;
  let stack: TestStack | undefined;
  let sm: SecretsManagerClient | undefined;
  const stop = async () => {
    sm?.destroy();
    await stack?.stop();
    await stack?.table.drop();
    await fake?.close();
  };
  try {
    fake = await startFakeAnthropic({ acceptKeys: options.acceptKeys });
    stack = await startTestStack({
      agents: { main: testAgent(['anthropic:claude-test', 'offline'], { secrets: options.agentSecrets }) as never },
      ...(options.secrets ? { secrets: options.secrets as never } : {}),
      providers: { anthropic: { baseUrl: fake.url } },
    });
    sm = localSecretsManagerClient(stack.secretsManager.endpoint);
    for (const [id, value] of Object.entries(options.values))
      await sm.send(new CreateSecretCommand({ Name: id, SecretString: value }));
  } catch (error) {
    // The setup's failure is the one to report, not a failure to stop what it had started.
    await stop().catch(() => undefined);
    throw error;
  }
  return { fake, stack, sm, stop };
}

/** The two rotating secrets of the rotation tests: the staged provider key and a generated one. */
export const ROTATING = {
  key: 'anthropic-api-key',
  keyId: 'threadbound/anthropic-api-key',
  signing: 'signing-key',
  signingId: 'threadbound/signing-key',
} as const;

/**
 * A secrets test stack whose `main` agent reads the staged provider key `ROTATING.key` (first value
 * `firstKey`), beside the generated `ROTATING.signing`, which the stack creates itself (as
 * CloudFormation does on AWS); both rotate daily.
 */
export function startRotatingSecretsStack(firstKey: string): Promise<SecretsTestStack> {
  return startSecretsTestStack({
    acceptKeys: [firstKey],
    agentSecrets: [ROTATING.key],
    secrets: {
      [ROTATING.key]: {
        source: `aws-secretsmanager://${ROTATING.keyId}`,
        cacheDuration: '1h',
        rotation: { schedule: 'rate(1 day)', strategy: 'staged' },
      },
      [ROTATING.signing]: {
        source: `aws-secretsmanager://${ROTATING.signingId}`,
        rotation: { schedule: 'rate(1 day)', strategy: 'generated' },
      },
    },
    values: { [ROTATING.keyId]: firstKey },
  });
}
