import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DEPLOY_NONCE_CONTEXT,
  DEPLOY_NONCE_PROPERTY,
  deployNonce,
  TRIGGER_PROVIDER_ID,
} from '../../infra/constructs/startup-reconciliation.js';
import { buildApp } from '../../infra/stacks/build-app.js';
import { loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';

// The startup reconciliation's on/off switch, its deploy nonce, and the behaviour of the Trigger
// provider that aws-cdk-lib ships (the code CloudFormation runs), against a fake Lambda API.
// The template assertions of the enabled case are in stack.test.ts (the real app, synthesized once).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_PATH = join(ROOT, 'threadbound.config.json');
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;
/** `cdk synth --exclusively`'s switch: bundle no stack. These tests look at the template only, so they skip esbuild. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Synthesizes the app (cdk-nag on, no bundling) for a config and extra context; returns the stack's template. */
function synth(config: Config, context: Record<string, unknown> = {}): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'threadbound-cdk-'));
  outdirs.push(outdir);
  const { app, stack } = buildApp({
    configPath: CONFIG_PATH,
    config,
    appProps: { outdir, context: { ...CDK_CONTEXT, ...NO_BUNDLING, ...context } },
  });
  app.synth();
  return Template.fromStack(stack);
}

function withThreadManagement(changes: Partial<Config['threadManagement']>): Config {
  const config = loadConfig(CONFIG_PATH);
  return { ...config, threadManagement: { ...config.threadManagement, ...changes } };
}

describe('threadManagement.startupReconciliation', () => {
  it('is on in the repository config (stack.test.ts asserts that stack)', () => {
    expect(loadConfig(CONFIG_PATH).threadManagement.startupReconciliation).toBe(true);
  });

  it('false: no Trigger, no reconciliation function, no Trigger provider; the idle sweep stays, on the configured schedule', () => {
    const cleanupSchedule = 'cron(0/15 * * * ? *)';
    const template = synth(withThreadManagement({ startupReconciliation: false, cleanupSchedule }));
    template.resourceCountIs('Custom::Trigger', 0);
    template.resourceCountIs('AWS::Lambda::Version', 0);
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toContain('StartupReconciliation');
    expect(json).not.toContain(TRIGGER_PROVIDER_ID.replaceAll('.', ''));
    // Turn recovery and the idle sweep, this time on the cron expression.
    template.resourcePropertiesCountIs('AWS::Events::Rule', { ScheduleExpression: cleanupSchedule }, 1);
    expect(
      Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('IdleSweep')),
    ).toHaveLength(1);
  });

  it('true: exactly one Trigger with the nonce from the context', () => {
    const template = synth(withThreadManagement({ startupReconciliation: true }), { [DEPLOY_NONCE_CONTEXT]: 'fixed' });
    template.resourceCountIs('Custom::Trigger', 1);
    template.hasResourceProperties('Custom::Trigger', {
      [DEPLOY_NONCE_PROPERTY]: 'fixed',
      InvocationType: 'RequestResponse',
    });
  });
});

describe('the deploy nonce', () => {
  it('is the context value when given (tests, or `cdk deploy -c threadbound:deployNonce=<value>`)', () => {
    const app = new App({ context: { [DEPLOY_NONCE_CONTEXT]: 'abc' } });
    expect(deployNonce(app)).toBe('abc');
    expect(deployNonce(new App({ context: { [DEPLOY_NONCE_CONTEXT]: 42 } }))).toBe('42');
    expect(() => deployNonce(new App({ context: { [DEPLOY_NONCE_CONTEXT]: ' ' } }))).toThrow(/must not be empty/);
  });

  it('is the synth time otherwise', () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_767_225_600_000);
    expect(deployNonce(new App())).toBe('1767225600000');
  });

  it('changes between two synths of the same code and config, and nothing else does', () => {
    const config = withThreadManagement({ startupReconciliation: true });
    const now = vi.spyOn(Date, 'now');
    now.mockReturnValue(1_000);
    const first = synth(config).toJSON();
    now.mockReturnValue(2_000);
    const second = synth(config).toJSON();

    const [triggerId] = Object.entries(first.Resources as Record<string, { Type: string }>).find(
      ([, resource]) => resource.Type === 'Custom::Trigger',
    )!;
    expect(first.Resources[triggerId].Properties[DEPLOY_NONCE_PROPERTY]).toBe('1000');
    expect(second.Resources[triggerId].Properties[DEPLOY_NONCE_PROPERTY]).toBe('2000');
    // Only the Trigger's nonce differs: the function, its version (HandlerArn) and every asset stay
    // the same, so no new Lambda version is published just because of a deployment.
    second.Resources[triggerId].Properties[DEPLOY_NONCE_PROPERTY] = '1000';
    expect(second).toEqual(first);
  });
});

/**
 * The provider aws-cdk-lib deploys for every Trigger (custom-resource-handlers/dist/triggers/lambda),
 * called the way CloudFormation calls it, with the Lambda API served by a local fake. Its entry
 * point is not in aws-cdk-lib's package exports, so it is loaded by path.
 */
describe('the Trigger provider (aws-cdk-lib code, fake Lambda API)', () => {
  const requireFromHere = createRequire(import.meta.url);
  const providerPath = join(
    dirname(requireFromHere.resolve('aws-cdk-lib/package.json')),
    'custom-resource-handlers/dist/triggers/lambda/index.js',
  );
  type ProviderEvent = {
    RequestType: 'Create' | 'Update' | 'Delete';
    ResourceProperties: Record<string, string>;
    OldResourceProperties?: Record<string, string>;
  };
  let provider: { handler: (event: ProviderEvent) => Promise<void> };
  let server: Server;
  const invocations: { path: string; invocationType: string | undefined }[] = [];
  let functionError: string | undefined;
  const savedEnv = { ...process.env };

  // What the deployed Custom::Trigger sends (CloudFormation passes every property as a string).
  const properties = (nonce: string): Record<string, string> => ({
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    HandlerArn: 'arn:aws:lambda:us-east-1:123456789012:function:Threadbound-Reconcile:3',
    InvocationType: 'RequestResponse',
    Timeout: '360000',
    ExecuteOnHandlerChange: 'true',
    [DEPLOY_NONCE_PROPERTY]: nonce,
  });

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response) => {
      request.resume();
      request.on('end', () => {
        invocations.push({
          path: request.url ?? '',
          invocationType: request.headers['x-amz-invocation-type'] as string | undefined,
        });
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-executed-version': '3' };
        if (functionError !== undefined) headers['x-amz-function-error'] = 'Unhandled';
        response.writeHead(200, headers);
        response.end(
          JSON.stringify(
            functionError === undefined
              ? { countersRepaired: [] }
              : { errorType: 'Error', errorMessage: functionError },
          ),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    });
    provider = requireFromHere(providerPath) as typeof provider;
  });

  afterAll(async () => {
    process.env = savedEnv;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Calls the provider; returns how many times it invoked the handler. */
  async function run(event: ProviderEvent): Promise<number> {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    invocations.length = 0;
    await provider.handler(event);
    for (const invocation of invocations) {
      expect(decodeURIComponent(invocation.path)).toContain(properties('').HandlerArn);
      expect(invocation.invocationType).toBe('RequestResponse');
    }
    return invocations.length;
  }

  it('invokes the reconciliation on the first deployment (Create)', async () => {
    functionError = undefined;
    expect(await run({ RequestType: 'Create', ResourceProperties: properties('1') })).toBe(1);
  });

  it('invokes it again on a deployment that changed nothing but the nonce (Update, same HandlerArn)', async () => {
    functionError = undefined;
    expect(
      await run({ RequestType: 'Update', ResourceProperties: properties('2'), OldResourceProperties: properties('1') }),
    ).toBe(1);
  });

  it('does not invoke it when the stack is deleted', async () => {
    expect(await run({ RequestType: 'Delete', ResourceProperties: properties('2') })).toBe(0);
  });

  it('fails (so CloudFormation fails the resource and the deployment) when the reconciliation throws', async () => {
    functionError = 'counter repair failed';
    await expect(
      run({ RequestType: 'Update', ResourceProperties: properties('3'), OldResourceProperties: properties('2') }),
    ).rejects.toThrow(/counter repair failed/);
    functionError = undefined;
  });
});
