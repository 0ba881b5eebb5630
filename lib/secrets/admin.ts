import type { Config, SecretConfig } from '../config/schema.js';
import { SecretError } from './errors.js';
import type { SecretControl, SecretLedger, SecretMetadata, SecretStats } from './ports.js';
import { secretId } from './reference.js';
import { rotationRules } from './rotation-rules.js';

/** What an operator sees of a secret: configuration, who may read it, figures and Secrets Manager's metadata — never a value. */
export interface SecretStatus {
  name: string;
  source: string;
  cacheDuration: string;
  jsonKey?: string;
  envVar?: string;
  rotation?: SecretConfig['rotation'];
  /** Agents whose config lists the secret (the only ones that can read it). */
  agents: string[];
  stats: SecretStats;
  /** Absent when Secrets Manager has no such secret yet (set it with `threadbound secrets create`). */
  metadata?: SecretMetadata;
  exists: boolean;
}

/** The admin side of secrets: status, refresh (drop every cached copy) and rotate now. */
export class SecretAdmin {
  constructor(
    private readonly config: Config,
    private readonly control: SecretControl,
    private readonly ledger: SecretLedger,
    private readonly options: { rotationFunctionArn?: string; now?: () => Date } = {},
  ) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** Every configured secret's status. */
  async list(): Promise<SecretStatus[]> {
    const names = Object.keys(this.config.secrets).sort();
    const [stats, metadata] = await Promise.all([
      this.ledger.stats(names),
      Promise.all(names.map((name) => this.control.describe(secretId(this.config.secrets[name]!.source)))),
    ]);
    return names.map((name, i) => this.status(name, stats.get(name)!, metadata[i]));
  }

  /** One secret's status. */
  async get(name: string): Promise<SecretStatus> {
    const secret = this.secret(name);
    const [stats, metadata] = await Promise.all([
      this.ledger.stats([name]),
      this.control.describe(secretId(secret.source)),
    ]);
    return this.status(name, stats.get(name)!, metadata);
  }

  /** Makes every process drop its cached copy: the next access anywhere refetches (and is audited as `refresh`). */
  async refresh(name: string, actor: string): Promise<{ name: string; epoch: number }> {
    this.secret(name);
    return { name, epoch: await this.ledger.bumpEpoch(name, actor, this.now().toISOString()) };
  }

  /**
   * Starts a rotation of a secret whose config enables rotation, with the deployment's rotation
   * function and the config's schedule (so the secret's rotation configuration follows the config).
   */
  async rotate(name: string): Promise<{ name: string; versionId: string; reattempted: boolean }> {
    const secret = this.secret(name);
    if (!secret.rotation)
      throw new SecretError('rotation_refused', `secret "${name}" has no rotation in the config`, { secret: name });
    const functionArn = this.options.rotationFunctionArn;
    // The very rules CDK gives the RotationSchedule (the window in Secrets Manager's whole hours).
    const rules = rotationRules(name, secret.rotation);
    const settings = functionArn
      ? { functionArn, schedule: rules.scheduleExpression, ...(rules.duration ? { window: rules.duration } : {}) }
      : undefined;
    return { name, ...(await this.control.rotate(secretId(secret.source), settings)) };
  }

  private secret(name: string): SecretConfig {
    const secret = this.config.secrets[name];
    if (!secret) throw new SecretError('unknown_secret', `no secret "${name}" is configured`, { secret: name });
    return secret;
  }

  private status(name: string, stats: SecretStats, metadata: SecretMetadata | undefined): SecretStatus {
    const secret = this.config.secrets[name]!;
    return {
      name,
      source: secret.source,
      cacheDuration: secret.cacheDuration,
      ...(secret.jsonKey !== undefined ? { jsonKey: secret.jsonKey } : {}),
      ...(secret.envVar !== undefined ? { envVar: secret.envVar } : {}),
      ...(secret.rotation ? { rotation: secret.rotation } : {}),
      agents: Object.entries(this.config.agents)
        .filter(([, agent]) => agent.secrets.includes(name))
        .map(([agent]) => agent),
      stats,
      exists: metadata !== undefined && metadata.deletedDate === undefined,
      ...(metadata ? { metadata } : {}),
    };
  }
}
