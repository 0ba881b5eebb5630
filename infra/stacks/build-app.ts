import { resolve } from 'node:path';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { ThreadboundStack } from './threadbound-stack.js';

/** The stack's construct id (and default CloudFormation stack name). */
export const STACK_ID = 'Threadbound';

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /** Config file path. @default THREADBOUND_CONFIG, else threadbound.config.json (relative to the cwd) */
  readonly configPath?: string;
  /** An already validated config; loaded from configPath when omitted. */
  readonly config?: Config;
  /** Passed to the App (outdir, context such as cdk.json's feature flags in tests, ...). */
  readonly appProps?: AppProps;
  /** Run the cdk-nag AwsSolutions checks as a policy validation plugin. @default true */
  readonly nag?: boolean;
}

/**
 * Builds the CDK app without synthesizing it (no side effects), so the entry point and the tests
 * construct exactly the same tree.
 */
export function buildApp(options: BuildAppOptions = {}): { app: App; stack: ThreadboundStack } {
  const configPath = resolve(options.configPath ?? process.env.THREADBOUND_CONFIG ?? DEFAULT_CONFIG_FILE);
  const config = options.config ?? loadConfig(configPath);

  const app = new App(options.appProps);
  // Env-agnostic: account and region come from the CLI profile at deploy time.
  const stack = new ThreadboundStack(app, STACK_ID, {
    config,
    configPath,
    description: 'threadbound: thread-bound agents backend (HTTP API, Lambda, DynamoDB, Step Functions)',
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
