import { isAbsolute, resolve } from 'node:path';
import type { SecretStatus } from '../../lib/secrets/admin.js';
import { segment } from '../api-client.js';
import type { CommandContext, CommandGroup, CommandSpec } from '../command.js';
import { CliError } from '../errors.js';
import { readSecretValue } from '../secret-input.js';
import { secretsManagerTarget, storeSecretValue } from '../secret-store.js';
import { formatKeyValue, formatTable } from '../text-table.js';
import { AUDIT_WINDOW_OPTIONS, auditWindow, fetchAuditEvents, text } from './audit.js';

/** The audit type `secrets audit` shows unless --type says otherwise; `--type all` shows every type. */
export const DEFAULT_AUDIT_TYPE = 'secret_reveal';

const STAGE_ORDER = ['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS'];

const list: CommandSpec = {
  path: ['secrets', 'list'],
  summary: 'every configured secret: whether it exists, who reads it, rotation and figures (never a value)',
  examples: ['threadbound secrets list', 'threadbound secrets list --json'],
  async run(ctx) {
    const answer = await ctx.api('admin').get<{ secrets: SecretStatus[] }>('/v1/secrets');
    if (ctx.json) return ctx.printJson(answer);
    if (answer.secrets.length === 0)
      return ctx.out('no secrets are configured (add them under "secrets" in the config)\n');
    ctx.out(
      formatTable(answer.secrets, [
        { header: 'name', value: (s) => s.name },
        { header: 'exists', value: (s) => s.exists },
        { header: 'agents', value: (s) => s.agents.join(',') },
        { header: 'cache', value: (s) => s.cacheDuration },
        {
          header: 'rotation',
          value: (s) => (s.rotation ? `${s.rotation.strategy} ${s.rotation.schedule}` : undefined),
        },
        { header: 'accesses', value: (s) => s.stats.accesses, align: 'right' },
        { header: 'reveals', value: (s) => s.stats.reveals, align: 'right' },
        { header: 'denials', value: (s) => s.stats.denials, align: 'right' },
        { header: 'exposures', value: (s) => s.stats.exposures, align: 'right' },
        { header: 'last reveal', value: (s) => s.stats.lastRevealAt },
      ]),
    );
  },
};

const status: CommandSpec = {
  path: ['secrets', 'status'],
  summary: "one secret's configuration, Secrets Manager metadata (versions by stage, rotation) and figures",
  args: [{ name: 'NAME' }],
  examples: ['threadbound secrets status anthropic-api-key'],
  async run(ctx) {
    const [name] = ctx.args as [string];
    const s = await ctx.api('admin').get<SecretStatus>(`/v1/secrets/${segment(name)}`);
    if (ctx.json) return ctx.printJson(s);
    const m = s.metadata;
    const rotation = s.rotation
      ? [s.rotation.strategy, s.rotation.schedule, s.rotation.window ? `window ${s.rotation.window}` : '']
          .filter(Boolean)
          .join(', ')
      : 'not configured';
    const versions = m
      ? Object.entries(m.versions)
          .sort(([a], [b]) => stageRank(a) - stageRank(b) || a.localeCompare(b))
          .flatMap(([stage, ids]) => ids.map((id) => `${stage.padEnd(11)} ${id}`))
      : [];
    ctx.out(
      formatKeyValue([
        ['name', s.name],
        ['source', s.source],
        ['exists', s.exists],
        ...(m ? ([['arn', m.arn]] as const) : []),
        ['agents', s.agents.length > 0 ? s.agents.join(', ') : 'none (no agent may read it)'],
        ['cache duration', s.cacheDuration],
        ...(s.jsonKey !== undefined ? ([['json key', s.jsonKey]] as const) : []),
        ...(s.envVar !== undefined ? ([['env var', s.envVar]] as const) : []),
        ['rotation', rotation],
        ['rotation enabled', m ? m.rotationEnabled : undefined],
        ['last rotated', m?.lastRotatedDate],
        ['next rotation', m?.nextRotationDate],
        ['last changed', m?.lastChangedDate],
        ['last accessed', m?.lastAccessedDate],
        ...(m?.deletedDate ? ([['deleted', m.deletedDate]] as const) : []),
        ['versions', versions],
        ['accesses', s.stats.accesses],
        ['reveals', s.stats.reveals],
        ['denials', s.stats.denials],
        ['exposures', s.stats.exposures],
        ['cache epoch', s.stats.epoch],
        [
          'last reveal',
          s.stats.lastRevealAt
            ? `${s.stats.lastRevealAt}${s.stats.lastRevealVersionId ? ` (version ${s.stats.lastRevealVersionId})` : ''}`
            : undefined,
        ],
        [
          'last rotation',
          s.stats.lastRotatedAt
            ? `${s.stats.lastRotatedAt}${s.stats.lastRotatedVersionId ? ` (version ${s.stats.lastRotatedVersionId})` : ''}`
            : undefined,
        ],
        ...(s.stats.lastRotationFailure
          ? ([
              [
                'rotation failed',
                `${s.stats.lastRotationFailure.at} at ${s.stats.lastRotationFailure.step} (version ${s.stats.lastRotationFailure.versionId}): ${s.stats.lastRotationFailure.error}`,
              ],
            ] as const)
          : []),
      ]),
    );
    if (!s.exists)
      ctx.out(`\nSecrets Manager has no value for it yet: threadbound secrets create ${s.name} < value-file\n`);
  },
};

const rotate: CommandSpec = {
  path: ['secrets', 'rotate'],
  summary: 'start a rotation now (Secrets Manager runs it asynchronously)',
  args: [{ name: 'NAME' }],
  examples: [
    'threadbound secrets rotate anthropic-api-key',
    'threadbound secrets status anthropic-api-key   # then watch the stages',
  ],
  async run(ctx) {
    const [name] = ctx.args as [string];
    const answer = await ctx
      .api('admin')
      .post<{ name: string; versionId: string }>(`/v1/secrets/${segment(name)}/rotate`);
    if (ctx.json) return ctx.printJson(answer);
    ctx.out(
      `rotation of ${answer.name} started: new version ${answer.versionId} (AWSPENDING until the rotation promotes it)\n`,
    );
  },
};

const refresh: CommandSpec = {
  path: ['secrets', 'refresh'],
  summary: 'make every process drop its cached copy: the next access refetches',
  args: [{ name: 'NAME' }],
  examples: ['threadbound secrets refresh anthropic-api-key'],
  async run(ctx) {
    const [name] = ctx.args as [string];
    const answer = await ctx.api('admin').post<{ name: string; epoch: number }>(`/v1/secrets/${segment(name)}/refresh`);
    if (ctx.json) return ctx.printJson(answer);
    ctx.out(`${answer.name}: cached copies dropped (cache epoch ${answer.epoch})\n`);
  },
};

const audit: CommandSpec = {
  path: ['secrets', 'audit'],
  summary: `audit events of secrets (default type ${DEFAULT_AUDIT_TYPE}), of one secret when NAME is given`,
  args: [{ name: 'NAME', optional: true }],
  synopsis: '[NAME] [--period 24h | --since ISO] [--type TYPE]',
  options: {
    ...AUDIT_WINDOW_OPTIONS,
    type: {
      type: 'string',
      valueName: 'TYPE',
      description: `event type: secret_reveal (default), secret_denied, secret_refresh, … or "all"`,
    },
  },
  notes: ["The secrets view of `threadbound audit` (which lists every chain's events and verifies them)."],
  examples: [
    'threadbound secrets audit --period 24h',
    'threadbound secrets audit anthropic-api-key --type secret_denied --period 7d',
    'threadbound secrets audit --since 2025-01-31T00:00:00Z --json',
  ],
  async run(ctx) {
    const [name] = ctx.args;
    const window = auditWindow(ctx, audit.path);
    const typeOption = (ctx.options.type as string | undefined) ?? DEFAULT_AUDIT_TYPE;
    const type = typeOption === 'all' ? undefined : typeOption;
    const found = await fetchAuditEvents(ctx.api('admin'), { type, ...window });
    // The name is filtered here: the API filters by thread, agent and tenant, a secret is in the event's data.
    const shown = name === undefined ? found.events : found.events.filter((event) => event.data?.secret === name);
    if (ctx.json) return ctx.printJson({ from: found.from, to: found.to, events: shown });
    if (shown.length === 0) {
      return ctx.out(
        `no ${type ?? 'audit'} events${name !== undefined ? ` of ${name}` : ''} from ${found.from} to ${found.to}\n`,
      );
    }
    ctx.out(
      formatTable(shown, [
        { header: 'at', value: (e) => e.at },
        { header: 'type', value: (e) => e.type },
        { header: 'secret', value: (e) => text(e.data?.secret) },
        { header: 'agent', value: (e) => e.agent },
        { header: 'session key', value: (e) => e.sessionKey },
        { header: 'version', value: (e) => text(e.data?.versionId) },
        { header: 'reason', value: (e) => text(e.data?.reason) },
      ]),
    );
  },
};

const VALUE_HINT =
  'the secret value is never taken from the command line (shell history, `ps`): pipe it on stdin or pass --file PATH';

const create: CommandSpec = {
  path: ['secrets', 'create'],
  summary: 'store a value in Secrets Manager (read from stdin or --file; never printed)',
  args: [{ name: 'NAME' }],
  options: {
    file: {
      type: 'string',
      valueName: 'PATH',
      description: 'read the value from this file (else from stdin, which must be a pipe or a file)',
    },
    pending: {
      type: 'boolean',
      description: "store it as AWSPENDING (a staged rotation: the operator's new key, promoted once tested)",
    },
    aws: { type: 'boolean', description: 'talk to AWS even when a local stack is running (<data dir>/local.json)' },
  },
  notes: [
    'NAME is a secret of the config (THREADBOUND_CONFIG, else threadbound.config.json); its source names the secret in Secrets Manager.',
    'A new secret is created; an existing one gets a new AWSCURRENT version (or AWSPENDING with --pending). One trailing newline is dropped.',
    'Secrets Manager: AWS_ENDPOINT_URL_SECRETS_MANAGER if set, else a running local stack, else AWS (default region and credentials).',
  ],
  sensitiveArgv: VALUE_HINT,
  examples: [
    'threadbound secrets create anthropic-api-key < key.txt',
    'pbpaste | threadbound secrets create anthropic-api-key',
    'threadbound secrets create anthropic-api-key --file new-key.txt --pending',
  ],
  async run(ctx) {
    const [name] = ctx.args as [string];
    const secretId = await configuredSecretId(ctx, name);
    const target = secretsManagerTarget({ env: ctx.io.env, cwd: ctx.cwd }, ctx.options.aws === true);
    const { value } = await readSecretValue(ctx.io, ctx.cwd, ctx.options.file as string | undefined);
    ctx.sensitive(value);
    const stored = await storeSecretValue(target, secretId, value, { pending: ctx.options.pending === true });
    if (ctx.json)
      return ctx.printJson({
        action: stored.action,
        name,
        secretId,
        versionId: stored.versionId,
        stages: stored.stages,
      });
    ctx.out(`${stored.action} ${name} version ${stored.versionId} (${stored.stages.join(', ')})\n`);
  },
};

/** The Secrets Manager id of a secret the config declares; an unknown name lists the configured ones (and never echoes what was typed). */
async function configuredSecretId(ctx: CommandContext, name: string): Promise<string> {
  const [{ loadConfig, DEFAULT_CONFIG_FILE }, { secretId }] = await Promise.all([
    import('../../lib/config/load.js'),
    import('../../lib/secrets/reference.js'),
  ]);
  const path = ctx.io.env.THREADBOUND_CONFIG || DEFAULT_CONFIG_FILE;
  const configFile = isAbsolute(path) ? path : resolve(ctx.cwd, path);
  let secrets: ReturnType<typeof loadConfig>['secrets'];
  try {
    secrets = loadConfig(configFile).secrets;
  } catch (error) {
    const hint = ctx.io.env.THREADBOUND_CONFIG
      ? ''
      : ' (THREADBOUND_CONFIG names the config file; the default is ./threadbound.config.json)';
    throw new CliError('invalid_config', `${(error as Error).message}${hint}`);
  }
  const secret = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
  if (!secret) {
    const configured = Object.keys(secrets).sort();
    throw new CliError(
      'unknown_secret',
      `NAME must be a secret of ${configFile} (${configured.length > 0 ? `configured: ${configured.join(', ')}` : 'it configures none'}); the value itself comes on stdin or from --file`,
    );
  }
  return secretId(secret.source);
}

function stageRank(stage: string): number {
  const i = STAGE_ORDER.indexOf(stage);
  return i === -1 ? STAGE_ORDER.length : i;
}

export const secretsGroup: CommandGroup = {
  name: 'secrets',
  summary: 'secrets: status, rotation, cache refresh, audit, and storing values',
  commands: [list, status, create, rotate, refresh, audit],
};
