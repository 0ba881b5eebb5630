import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadboundFunction } from '../../infra/constructs/threadbound-function.js';
import { AGENT_VERSION_STAGE } from '../../infra/constructs/threadbound-secrets.js';
import { SecretsManagerSource } from '../../lib/adapters/secrets-manager/secret-source.js';
import { ROUTES } from '../../lib/api/routes.js';
import { loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { isPlaceholder } from '../../lib/secrets/reference.js';
import {
  actionsOf,
  asList,
  asSet,
  buildWithoutSynth,
  COMPLETE_ARN,
  CONFIG_PATH,
  configWith,
  expectedResource,
  type Json,
  ownedName,
  PARTIAL_ARN,
  removeTempOutdirs,
  resourcesOf,
  roleIdOf,
  type Statement,
  type Synthesized,
  secretIdsByName,
  secretKeys,
  statementsOfRole,
  suppressed,
  synth,
  unacknowledged,
} from '../support/infra.js';

// The secrets of the config in the template: the customer managed key, one owned secret per
// `aws-secretsmanager://` source, and — for every agent of the config — exactly its own secrets in
// its Lambda role's policy. Synthesized without bundling (the template is all that is looked at),
// cdk-nag on.

const isSecretsAction = (action: string) => action.toLowerCase().startsWith('secretsmanager:');
const isKmsAction = (action: string) => action.toLowerCase().startsWith('kms:');

/**
 * Several secrets and agents: main → s1, s2 (owned); data → s2 (owned) and ext (complete ARN);
 * trading → ext-partial (partial ARN only, so no KMS grant); analysis → none. s3 is owned and
 * rotated but read by no agent.
 */
function multiSecretConfig(): Config {
  return configWith(
    { main: ['s1', 's2'], data: ['s2', 'ext'], analysis: [], trading: ['ext-partial'] },
    {
      s1: { source: 'aws-secretsmanager://tb-test/s1', cacheDuration: '5m' },
      s2: { source: 'aws-secretsmanager://tb-test/s2', rotation: { schedule: 'rate(1 day)', strategy: 'generated' } },
      s3: {
        source: 'aws-secretsmanager://tb-test/s3',
        rotation: { schedule: 'cron(0 3 * * ? *)', strategy: 'staged' },
      },
      ext: { source: COMPLETE_ARN },
      'ext-partial': { source: PARTIAL_ARN, rotation: { strategy: 'provider-admin' } },
    },
  );
}

afterAll(removeTempOutdirs);

function onlyKeyId(template: Template): string {
  const keys = Object.keys(secretKeys(template));
  expect(keys).toHaveLength(1);
  return keys[0]!;
}

/**
 * For every agent of the config: the resources of its role's statements with
 * `secretsmanager:GetSecretValue` are exactly its configured secrets, it has no other Secrets Manager
 * action, and it may `kms:Decrypt` the stack's key only via Secrets Manager for exactly its owned
 * secrets — or, with no secrets (or none owned), has no such statement at all.
 */
function expectAgentsReadExactlyTheirSecrets({ stack, template }: Synthesized, config: Config): void {
  expect(new Set(stack.turnWorkflow.agents.keys())).toEqual(new Set(Object.keys(config.agents)));
  for (const [agentName, agent] of Object.entries(config.agents)) {
    const statements = statementsOfRole(template, roleIdOf(stack, stack.turnWorkflow.agents.get(agentName)!));
    const secretStatements = statements.filter((statement) => actionsOf(statement).some(isSecretsAction));
    const kmsStatements = statements.filter((statement) => actionsOf(statement).some(isKmsAction));

    if (agent.secrets.length === 0) {
      expect(secretStatements, `${agentName}: no Secrets Manager permission`).toEqual([]);
      expect(kmsStatements, `${agentName}: no KMS permission`).toEqual([]);
      continue;
    }

    const readStatements = secretStatements.filter((statement) =>
      actionsOf(statement).includes('secretsmanager:GetSecretValue'),
    );
    expect(asSet(readStatements.flatMap(resourcesOf)), `${agentName}: GetSecretValue resources`).toEqual(
      asSet(agent.secrets.map((name) => expectedResource(template, config, name))),
    );
    // Agents only read values: no DescribeSecret, no write, no wildcard action.
    expect(new Set(secretStatements.flatMap(actionsOf)), agentName).toEqual(new Set(['secretsmanager:GetSecretValue']));
    // Only the AWSCURRENT version: never a pending (untested) or previous (revoked) key — except the
    // previous value of a generated secret, which verification accepts during the rotation window.
    const generated = agent.secrets.filter((name) => config.secrets[name]!.rotation?.strategy === 'generated');
    for (const statement of secretStatements) {
      expect(statement.Effect).toBe('Allow');
      const stages = asList(statement.Condition?.StringEquals?.['secretsmanager:VersionStage']);
      const onGenerated = resourcesOf(statement).every((resource) =>
        generated.some((name) => JSON.stringify(expectedResource(template, config, name)) === JSON.stringify(resource)),
      );
      expect(Object.keys(statement.Condition ?? {}), agentName).toEqual(['StringEquals']);
      expect(stages, agentName).toEqual(
        onGenerated && generated.length > 0 ? ['AWSCURRENT', 'AWSPREVIOUS'] : ['AWSCURRENT'],
      );
    }

    const owned = agent.secrets.filter((name) => ownedName(config.secrets[name]!.source) !== undefined);
    if (owned.length === 0) {
      expect(
        kmsStatements,
        `${agentName}: only ARN-sourced secrets, whose owner's key policy grants decryption`,
      ).toEqual([]);
      continue;
    }
    expect(kmsStatements, agentName).toHaveLength(1);
    const [decrypt] = kmsStatements as [Statement];
    expect(decrypt.Effect).toBe('Allow');
    expect(actionsOf(decrypt), agentName).toEqual(['kms:Decrypt']);
    expect(resourcesOf(decrypt), agentName).toEqual([{ 'Fn::GetAtt': [onlyKeyId(template), 'Arn'] }]);
    expect(Object.keys(decrypt.Condition ?? {}), agentName).toEqual(['StringEquals']);
    const conditions = decrypt.Condition!.StringEquals as Json;
    expect(Object.keys(conditions).sort()).toEqual(['kms:EncryptionContext:SecretARN', 'kms:ViaService']);
    expect(conditions['kms:ViaService']).toEqual({
      'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
    });
    expect(
      asSet(asList(conditions['kms:EncryptionContext:SecretARN'])),
      `${agentName}: decrypts only its own secrets`,
    ).toEqual(asSet(owned.map((name) => expectedResource(template, config, name))));
  }
}

/** No IAM policy of the stack has a Secrets Manager or KMS action, or a Secrets Manager resource, with a `*`. */
function expectNoSecretsWildcard(template: Template): void {
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
      const actions = actionsOf(statement);
      if (!actions.some((action) => isSecretsAction(action) || isKmsAction(action))) continue;
      for (const action of actions) expect(action, id).not.toContain('*');
      for (const resource of resourcesOf(statement)) expect(JSON.stringify(resource), id).not.toContain('*');
    }
  }
  template.resourceCountIs('AWS::SecretsManager::ResourcePolicy', 0);
}

/**
 * The only functions that may read a secret value or use the key: the agents, and the rotation
 * Lambda (whose exact statements test/infra/rotation.test.ts checks).
 */
function expectOnlyAgentsReadSecrets({ stack, template }: Synthesized): void {
  const readerRoles = new Set([...stack.turnWorkflow.agents.values()].map((fn) => roleIdOf(stack, fn)));
  if (stack.secrets.rotation) readerRoles.add(roleIdOf(stack, stack.secrets.rotation.handler));
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    const roles = (policy.Properties.Roles as Json[]).map((role) => role.Ref as string);
    if (roles.every((role) => readerRoles.has(role))) continue;
    const actions = (policy.Properties.PolicyDocument.Statement as Statement[]).flatMap(actionsOf);
    expect(actions, id).not.toContain('secretsmanager:GetSecretValue');
    expect(actions.filter(isKmsAction), id).toEqual([]);
  }
}

describe('a config with several agents and secrets', () => {
  let config: Config;
  let synthesized: Synthesized;
  beforeAll(() => {
    config = multiSecretConfig();
    synthesized = synth(config);
  });

  it('gives every agent GetSecretValue on exactly its own secrets and kms:Decrypt for exactly its owned ones (none for an agent without secrets)', () => {
    expectAgentsReadExactlyTheirSecrets(synthesized, config);
    // The fixture covers each case: owned only, owned + ARN, ARN only (partial), none.
    expect(config.agents.main!.secrets).toEqual(['s1', 's2']);
    expect(config.agents.analysis!.secrets).toEqual([]);
  });

  it('names the ARN-sourced secrets literally: a complete ARN as it is, a partial one with the 6-character suffix wildcard', () => {
    const { stack, template } = synthesized;
    const resourcesOfAgent = (agent: string) =>
      statementsOfRole(template, roleIdOf(stack, stack.turnWorkflow.agents.get(agent)!))
        .filter((statement) => actionsOf(statement).includes('secretsmanager:GetSecretValue'))
        .flatMap(resourcesOf);
    expect(resourcesOfAgent('data')).toContain(COMPLETE_ARN);
    expect(resourcesOfAgent('trading')).toEqual([`${PARTIAL_ARN}-??????`]);
  });

  it('has no "*" in any Secrets Manager or KMS statement, and lets no other function (but the rotation Lambda) read a secret value or use the key', () => {
    expectNoSecretsWildcard(synthesized.template);
    expectOnlyAgentsReadSecrets(synthesized);
  });

  it('creates exactly the aws-secretsmanager:// secrets, named as configured, encrypted with the stack key, retained, valued by the operator', () => {
    const { template } = synthesized;
    const keyId = onlyKeyId(template);
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    expect(new Set(Object.values(secrets).map((secret) => secret.Properties.Name))).toEqual(
      new Set(['tb-test/s1', 'tb-test/s2', 'tb-test/s3']),
    );
    expect(Object.keys(secrets)).toHaveLength(3);
    for (const [id, secret] of Object.entries(secrets)) {
      expect(secret.Properties.KmsKeyId, id).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(secret.DeletionPolicy, id).toBe('Retain');
      expect(secret.UpdateReplacePolicy, id).toBe('Retain');
      expect(secret.Properties.Description, id).toContain('`threadbound secrets create`');
      expect(secret.Properties.Description, id).toContain('never by CloudFormation');
      // A generated placeholder, never a value in the template; never changed (a change regenerates the value).
      // A generated secret starts with a usable random value; the others with the marked placeholder.
      expect(secret.Properties.SecretString, id).toBeUndefined();
      const generated = Object.values(config.secrets).some(
        (s) => s.source === `aws-secretsmanager://${secret.Properties.Name}` && s.rotation?.strategy === 'generated',
      );
      expect(secret.Properties.GenerateSecretString, id).toEqual(
        generated
          ? { ExcludePunctuation: true, PasswordLength: 43 }
          : {
              ExcludePunctuation: true,
              PasswordLength: 32,
              GenerateStringKey: 'nonce',
              SecretStringTemplate: JSON.stringify({
                threadboundPlaceholder: 'not set yet: threadbound secrets create <name>',
              }),
            },
      );
      if (!generated)
        expect(
          isPlaceholder(
            JSON.stringify({ ...JSON.parse(secret.Properties.GenerateSecretString.SecretStringTemplate), nonce: 'x' }),
          ),
          id,
        ).toBe(true);
      expect(secret.Properties.ReplicaRegions, id).toBeUndefined();
    }
    // The ARN-sourced secrets belong to someone else: referenced, not created.
    expect(JSON.stringify(secrets)).not.toContain('shared/');
  });

  it('encrypts them with one customer managed key: rotation on, retained, described, aliased alias/<stack>-secrets', () => {
    const { template, stack } = synthesized;
    const keyId = onlyKeyId(template);
    const key = template.findResources('AWS::KMS::Key')[keyId]!;
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.UpdateReplacePolicy).toBe('Retain');
    expect(key.Properties.Description).toMatch(/Secrets Manager/);
    template.resourceCountIs('AWS::KMS::Alias', 1);
    template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: `alias/${stack.stackName}-secrets`,
      TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    // The key policy names no function role: what a role may decrypt is in its own policy (above).
    const keyPolicy = JSON.stringify(key.Properties.KeyPolicy);
    for (const fn of stack.turnWorkflow.agents.values()) expect(keyPolicy).not.toContain(roleIdOf(stack, fn));
  });

  it('is cdk-nag clean: only AwsSolutions-SMG4 is acknowledged for the secrets, once per owned secret without rotation, with its reason', () => {
    const { report, synthError, stack } = synthesized;
    expect(synthError === undefined ? undefined : String((synthError as Error).message)).toBeUndefined();
    expect(unacknowledged(report)).toEqual([]);
    const secretsPath = `${stack.secrets.node.path}/`;
    // The rotation Lambda (Secrets/Rotation/…) has the findings of every function role; rotation.test.ts lists them.
    const rotationPath = `${stack.secrets.rotation!.node.path}/`;
    const onSecrets = suppressed(report).flatMap((violation) =>
      violation.violatingConstructs
        .filter(
          (construct) =>
            construct.constructPath.startsWith(secretsPath) && !construct.constructPath.startsWith(rotationPath),
        )
        .map((construct) => ({ ...violation, path: construct.constructPath })),
    );
    // s2 and s3 rotate: their RotationSchedule satisfies SMG4 (rotation.test.ts checks the schedules).
    expect(onSecrets.map((violation) => `${violation.ruleName} @ ${violation.path}`)).toEqual([
      `AwsSolutions-SMG4 @ ${stack.secrets.secret('s1').node.path}/Resource`,
    ]);
    const [s1] = onSecrets as [(typeof onSecrets)[number]];
    expect(s1.acknowledgedId).toBe('AwsSolutions::AwsSolutions-SMG4');
    // Without rotation: threadbound does not rotate it; the operator rotates at the provider.
    expect(s1.reason).toMatch(/threadbound does not rotate it/);
    expect(s1.reason).toContain('threadbound secrets create');
    expect(s1.reason).toContain(config.secrets.s1!.cacheDuration);
    // Rules other than SMG4 raise nothing on the secrets and the key (KMS5: rotation is on).
    expect(suppressed(report).map((violation) => violation.ruleName)).not.toContain('AwsSolutions-KMS5');
  });

  it('exposes the secrets by config name', () => {
    const { stack } = synthesized;
    const ids = secretIdsByName(synthesized.template);
    expect(stack.resolve(stack.secrets.secretArn('s1'))).toEqual({ Ref: ids.get('tb-test/s1') });
    expect(stack.secrets.secretArn('ext')).toBe(COMPLETE_ARN);
    expect(stack.secrets.secretArn('ext-partial')).toBe(PARTIAL_ARN);
    expect(() => stack.secrets.secretArn('nope')).toThrow(/unknown secret "nope"/);
    expect(stack.secrets.rotatedSecretNames().sort()).toEqual(['ext-partial', 's2', 's3']);
  });
});

describe('the agent code matches the IAM condition', () => {
  it('the Secrets Manager source always asks for VersionStage AWSCURRENT (a request without it would be denied)', async () => {
    const inputs: Json[] = [];
    const client = {
      send: async (command: { input: Json }) => {
        inputs.push(command.input);
        return { SecretString: 'value', VersionId: 'v1' };
      },
    };
    await new SecretsManagerSource(client as never).current('tb-test/s1');
    expect(inputs).toEqual([{ SecretId: 'tb-test/s1', VersionStage: AGENT_VERSION_STAGE }]);
  });
});

describe('grantDescribe and grantRotate (for the admin secrets routes)', () => {
  let config: Config;
  let synthesized: Synthesized;
  let describer: ThreadboundFunction;
  let rotator: ThreadboundFunction;
  beforeAll(() => {
    config = multiSecretConfig();
    synthesized = synth(config, (stack) => {
      const probe = (id: string) =>
        new ThreadboundFunction(stack, id, {
          entry: 'functions/api/health.ts',
          configPath: CONFIG_PATH,
          tableName: 'unused',
          description: `test probe ${id}`,
        });
      describer = probe('DescribeProbe');
      rotator = probe('RotateProbe');
      stack.secrets.grantDescribe(describer);
      stack.secrets.grantRotate(rotator);
    });
  });

  it('grantDescribe: DescribeSecret on every configured secret, no value and no key', () => {
    const { stack, template } = synthesized;
    const statements = statementsOfRole(template, roleIdOf(stack, describer)).filter((statement) =>
      actionsOf(statement).some((action) => isSecretsAction(action) || isKmsAction(action)),
    );
    expect(statements.flatMap(actionsOf)).toEqual(['secretsmanager:DescribeSecret']);
    expect(asSet(statements.flatMap(resourcesOf))).toEqual(
      asSet(Object.keys(config.secrets).map((name) => expectedResource(template, config, name))),
    );
  });

  it('grantRotate: RotateSecret on exactly the secrets with rotation, no value and no key', () => {
    const { stack, template } = synthesized;
    const statements = statementsOfRole(template, roleIdOf(stack, rotator)).filter((statement) =>
      actionsOf(statement).some((action) => isSecretsAction(action) || isKmsAction(action)),
    );
    expect(statements.flatMap(actionsOf)).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:RotateSecret']);
    const rotated = Object.entries(config.secrets)
      .filter(([, secret]) => secret.rotation !== undefined)
      .map(([name]) => name);
    expect(rotated.sort()).toEqual(['ext-partial', 's2', 's3']);
    expect(asSet(statements.flatMap(resourcesOf))).toEqual(
      asSet(rotated.map((name) => expectedResource(template, config, name))),
    );
  });

  it('changes nothing for the agents and stays cdk-nag clean', () => {
    expectAgentsReadExactlyTheirSecrets(synthesized, config);
    expectNoSecretsWildcard(synthesized.template);
    expectOnlyAgentsReadSecrets(synthesized);
    expect(unacknowledged(synthesized.report)).toEqual([]);
  });
});

describe('the API handlers of the secrets routes', () => {
  it('gives each handler exactly the Secrets Manager actions its routes declare in ROUTES, never a value or the key', () => {
    const config = multiSecretConfig();
    const { stack, template } = synth(config);
    for (const [handler, fn] of stack.handlers.functions) {
      const declared = new Set(
        ROUTES.filter((route) => route.handler === handler).flatMap((route) => (route.secrets ? [route.secrets] : [])),
      );
      const actions = statementsOfRole(template, roleIdOf(stack, fn))
        .flatMap(actionsOf)
        .filter((action) => isSecretsAction(action) || isKmsAction(action));
      // rotate: RotateSecret, and DescribeSecret to name the version of a reattempted rotation.
      const expected = [
        ...(declared.has('describe') ? ['secretsmanager:DescribeSecret'] : []),
        ...(declared.has('rotate') ? ['secretsmanager:RotateSecret', 'secretsmanager:DescribeSecret'] : []),
      ];
      expect({ handler, actions: actions.sort() }).toEqual({ handler, actions: expected.sort() });
    }
    expect([...stack.handlers.functions.keys()]).toEqual(
      expect.arrayContaining(['secrets-list', 'secrets-get', 'secrets-rotate', 'secrets-refresh']),
    );
  });
});

describe('edge cases of the config', () => {
  it('no secrets at all: no key, no secret, no rotation, no Secrets Manager or KMS permission anywhere', () => {
    const config = configWith({}, {});
    const synthesized = synth(config);
    expect(secretKeys(synthesized.template)).toEqual({});
    synthesized.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    synthesized.template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
    expect(synthesized.stack.secrets.key).toBeUndefined();
    expect(synthesized.stack.secrets.rotation).toBeUndefined();
    expectAgentsReadExactlyTheirSecrets(synthesized, config);
    for (const policy of Object.values(synthesized.template.findResources('AWS::IAM::Policy'))) {
      const actions = (policy.Properties.PolicyDocument.Statement as Statement[]).flatMap(actionsOf);
      expect(actions.filter((action) => isSecretsAction(action) || isKmsAction(action))).toEqual([]);
    }
    expect(unacknowledged(synthesized.report)).toEqual([]);
  });

  it('two config entries creating the same secret name fail synth', () => {
    const base = multiSecretConfig();
    const config = { ...base, secrets: { ...base.secrets, s4: { ...base.secrets.s1! } } };
    expect(() => buildWithoutSynth(config)).toThrow(/"s1" and "s4" both create the secret "tb-test\/s1"/);
  });
});

describe('the shipped threadbound.config.json', () => {
  let config: Config;
  let synthesized: Synthesized;
  beforeAll(() => {
    config = loadConfig(CONFIG_PATH);
    synthesized = synth(config);
  });

  it('gives every agent exactly its own secrets: main anthropic-api-key, the others none', () => {
    expect(Object.fromEntries(Object.entries(config.agents).map(([name, agent]) => [name, agent.secrets]))).toEqual({
      main: ['anthropic-api-key'],
      data: [],
      analysis: [],
      trading: [],
    });
    expectAgentsReadExactlyTheirSecrets(synthesized, config);
    expectNoSecretsWildcard(synthesized.template);
    expectOnlyAgentsReadSecrets(synthesized);
  });

  it('creates threadbound/anthropic-api-key with the stack key and its rotation schedule: nothing acknowledged for SMG4', () => {
    const { template, report, stack } = synthesized;
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'threadbound/anthropic-api-key',
      KmsKeyId: { 'Fn::GetAtt': [onlyKeyId(template), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(unacknowledged(report)).toEqual([]);
    expect(suppressed(report).filter((violation) => violation.ruleName === 'AwsSolutions-SMG4')).toEqual([]);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: secretIdsByName(template).get('threadbound/anthropic-api-key') },
    });
    expect(stack.secrets.rotation).toBeDefined();
  });
});
