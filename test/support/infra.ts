import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import type { ThreadboundFunction } from '../../infra/constructs/threadbound-function.js';
import { buildApp } from '../../infra/stacks/build-app.js';
import type { ThreadboundStack } from '../../infra/stacks/threadbound-stack.js';
import { loadConfig } from '../../lib/config/load.js';
import { type Config, configSchema } from '../../lib/config/schema.js';

// What the CDK tests (test/infra) share: the repository paths and cdk.json context, synthesis into
// temporary assemblies with the cdk-nag report, and readers of the template's IAM policies.

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CONFIG_PATH = join(ROOT, 'threadbound.config.json');
/** cdk.json's context (feature flags), so the tests synthesize what `cdk synth` synthesizes. */
export const CDK_CONTEXT = (
  JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;
/** `cdk synth --exclusively`'s switch: bundle no stack. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

export type Json = Record<string, any>;
export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}
/** validation-report.json of a cloud assembly (the policy validation plugins' findings). */
export interface ValidationReport {
  pluginReports: {
    pluginName: string;
    conclusion: string;
    violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
    suppressedViolations?: {
      ruleName: string;
      acknowledgedId: string;
      acknowledgedAt?: string;
      reason?: string;
      violatingConstructs: { constructPath: string }[];
    }[];
  }[];
}

export const actionsOf = (statement: Statement): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];
export const resourcesOf = (statement: Statement): unknown[] =>
  Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
export const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
/** Compares resources (strings or intrinsics) as a set. */
export const asSet = (values: unknown[]): Set<string> => new Set(values.map((value) => JSON.stringify(value)));

export const readReport = (outdir: string): ValidationReport =>
  JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
/** Every finding nothing acknowledges, with the plugin that raised it. */
export const unacknowledged = (report: ValidationReport) =>
  report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((violation) => ({ plugin: plugin.pluginName, ...violation })),
  );
export const suppressed = (report: ValidationReport) =>
  report.pluginReports.flatMap((plugin) => plugin.suppressedViolations ?? []);

/** The secrets' owner account in the ARN sources (another account than the stack's). */
export const OTHER_ACCOUNT = '111122223333';
export const COMPLETE_ARN = `arn:aws:secretsmanager:eu-west-1:${OTHER_ACCOUNT}:secret:shared/openai-key-AbC123`;
export const PARTIAL_ARN = `arn:aws:secretsmanager:eu-west-1:${OTHER_ACCOUNT}:secret:shared/mistral-key`;

/**
 * The repository config with other agents' secrets (every agent on the `offline` model, which needs
 * no provider key, so any secret list is valid) and the given `secrets` record.
 */
export function configWith(agentSecrets: Record<string, string[]>, secrets: Record<string, unknown>): Config {
  const base = loadConfig(CONFIG_PATH);
  return configSchema.parse({
    ...base,
    agents: Object.fromEntries(
      Object.entries(base.agents).map(([name, agent]) => [
        name,
        { ...agent, models: ['offline'], secrets: agentSecrets[name] ?? [] },
      ]),
    ),
    secrets,
  });
}

const outdirs: string[] = [];
/** A new temporary assembly directory, removed by {@link removeTempOutdirs} (register it with `afterAll`). */
export function tempOutdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'threadbound-cdk-'));
  outdirs.push(dir);
  return dir;
}
export function removeTempOutdirs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface SynthesizedApp {
  outdir: string;
  stack: ThreadboundStack;
  template: Template;
  /** What `app.synth()` threw (cdk-nag throws on any unacknowledged finding), kept for the cdk-nag tests. */
  synthError: unknown;
}
export interface Synthesized extends SynthesizedApp {
  report: ValidationReport;
}

/**
 * Builds and synthesizes the app (cdk-nag on) into a temporary directory, with cdk.json's context
 * and `context` on top; `config` is loaded from {@link CONFIG_PATH} when omitted, and `extend` may add
 * to the stack before synthesis.
 */
export function synthApp({
  config,
  context = {},
  extend,
}: {
  config?: Config;
  context?: Record<string, unknown>;
  extend?: (stack: ThreadboundStack) => void;
} = {}): SynthesizedApp {
  const outdir = tempOutdir();
  const { app, stack } = buildApp({
    configPath: CONFIG_PATH,
    ...(config ? { config } : {}),
    appProps: { outdir, context: { ...CDK_CONTEXT, ...context } },
  });
  extend?.(stack);
  let synthError: unknown;
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  return { outdir, stack, template: Template.fromStack(stack), synthError };
}

/** Synthesizes the app for a config (cdk-nag on, no bundling) and reads its validation report; `extend` may add to the stack first. */
export function synth(config: Config, extend?: (stack: ThreadboundStack) => void): Synthesized {
  const synthesized = synthApp({ config, context: NO_BUNDLING, ...(extend ? { extend } : {}) });
  return { ...synthesized, report: readReport(synthesized.outdir) };
}

/** Builds the app for a config without synthesizing it (no cdk-nag, no bundling): for configs that must fail the build. */
export const buildWithoutSynth = (config: Config) =>
  buildApp({ configPath: CONFIG_PATH, config, nag: false, appProps: { context: { ...CDK_CONTEXT, ...NO_BUNDLING } } });

/** The template's KMS keys but the alarm topic's (infra/constructs/operations-dashboard.ts): the stack's secrets key, if any. */
export const secretKeys = (template: Template): Record<string, Json> =>
  Object.fromEntries(
    Object.entries(template.findResources('AWS::KMS::Key')).filter(
      ([, key]) => !String(key.Properties.Description).includes('alarm notifications'),
    ),
  );
/** The alarms of the secrets' rotation (RotationFailed per secret, the rotation Lambda's Errors), not the operations alarms. */
export const rotationAlarms = (template: Template): Json[] =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
    (alarm) => alarm.Properties.MetricName === 'RotationFailed' || alarm.Properties.Namespace === 'AWS/Lambda',
  );

export const logicalIdOf = (stack: ThreadboundStack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
export const roleIdOf = (stack: ThreadboundStack, fn: ThreadboundFunction) => logicalIdOf(stack, fn.role);

/** Every statement of every IAM policy attached to the role with this logical id. */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as Json[]).some((role) => role.Ref === roleLogicalId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** Logical ids of the template's secrets by their `Name`. */
export function secretIdsByName(template: Template): Map<string, string> {
  return new Map(
    Object.entries(template.findResources('AWS::SecretsManager::Secret')).map(([id, resource]) => [
      resource.Properties.Name as string,
      id,
    ]),
  );
}

/** The secret name of an `aws-secretsmanager://` source (one the stack owns), else undefined. */
export const ownedName = (source: string): string | undefined =>
  source.startsWith('aws-secretsmanager://') ? source.slice('aws-secretsmanager://'.length) : undefined;

/**
 * The IAM resource that names a configured secret, worked out from the template and the config only:
 * `{Ref}` of the template's secret with that exact name for an owned source, the ARN itself for a
 * complete ARN, `<ARN>-??????` for a partial one.
 */
export function expectedResource(template: Template, config: Config, secretName: string): unknown {
  const source = config.secrets[secretName]!.source;
  const name = ownedName(source);
  if (name !== undefined) {
    const id = secretIdsByName(template).get(name);
    expect(id, `the template has a secret named ${name}`).toBeDefined();
    return { Ref: id };
  }
  return /-[A-Za-z0-9]{6}$/.test(source) ? source : `${source}-??????`;
}
