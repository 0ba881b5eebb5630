import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic.js';
import { startTestStack, testAgent, type TestStack } from './local-stack.js';

/** A Secrets Manager client on a local endpoint (any credentials do). */
export function localSecretsManagerClient(endpoint: string): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
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
    for (const [id, value] of Object.entries(options.values)) await sm.send(new CreateSecretCommand({ Name: id, SecretString: value }));
  } catch (error) {
    // The setup's failure is the one to report, not a failure to stop what it had started.
    await stop().catch(() => undefined);
    throw error;
  }
  return { fake, stack, sm, stop };
}
