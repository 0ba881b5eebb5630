import type { Config, SecretConfig } from '../config/schema.js';
import { processRedactor, type Redactor } from '../secrets/redactor.js';
import { secretId } from '../secrets/reference.js';
import { RotationError } from './errors.js';
import type {
  RotatingSecret,
  RotationContext,
  RotationRecorder,
  RotationRequest,
  RotationStrategy,
  RotationStrategyName,
  SecretVersions,
} from './ports.js';

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';

/** Picks the strategy object of a secret's configured rotation strategy. */
export type StrategyResolver = (name: string, strategy: RotationStrategyName) => RotationStrategy;

/**
 * Secrets Manager's rotation protocol, one step per call, every step safe to repeat: a step that
 * failed is run again by the next attempt with the same token and picks up where it stopped.
 */
export class RotationProtocol {
  constructor(
    private readonly config: Config,
    private readonly versions: SecretVersions,
    private readonly strategies: StrategyResolver,
    private readonly recorder: RotationRecorder,
    private readonly now: () => Date = () => new Date(),
    private readonly redactor: Redactor = processRedactor,
  ) {}

  /** Runs one step; a failure is recorded (audit, status) and rethrown so Secrets Manager sees it. */
  async step(request: RotationRequest): Promise<void> {
    const secret = await this.versions.describe(request.secretId);
    const found = this.configOf(secret);
    try {
      if (!secret.rotationEnabled)
        throw new RotationError('rotation_disabled', `rotation is not enabled for secret ${secret.name}`);
      const stages = secret.versions[request.token];
      if (!stages)
        throw new RotationError('not_a_version', `version ${request.token} is not a version of secret ${secret.name}`);
      if (stages.includes(CURRENT)) {
        // Already promoted: an earlier attempt finished. Only make sure what follows the promotion
        // (retiring the previous value, the record) happened, in case that attempt died after it.
        if (request.step === 'finishSecret' && (await this.recorder.lastRotatedVersion(found.name)) !== request.token) {
          await this.afterPromotion(
            request,
            found,
            Object.entries(secret.versions).find(([, labels]) => labels.includes('AWSPREVIOUS'))?.[0],
          );
        }
        return;
      }
      if (!stages.includes(PENDING))
        throw new RotationError('not_pending', `version ${request.token} of secret ${secret.name} is not AWSPENDING`);
      await this.run(request, secret, found);
    } catch (error) {
      await this.record(found, request, 'failed', error);
      throw error;
    }
  }

  private async run(
    request: RotationRequest,
    secret: RotatingSecret,
    found: { name: string; config: SecretConfig; strategy: RotationStrategy },
  ): Promise<void> {
    const { token, secretId: id } = request;
    // Every value this function reads or makes is known to the redactor before it can reach a log
    // line or a recorded error.
    const known = (value: string | undefined) => {
      if (value !== undefined) this.redactor.register(found.name, value);
      return value;
    };
    const context: RotationContext = {
      name: found.name,
      config: found.config,
      current: known(await this.versions.value(id, { stage: CURRENT })),
      versionValue: async (versionId) => known(await this.versions.value(id, { versionId })),
    };
    const pending = async () => known(await this.versions.value(id, { versionId: token, stage: PENDING }));
    switch (request.step) {
      case 'createSecret': {
        // A value already there (an earlier attempt, or an operator's staged key) is reused as it is.
        if ((await pending()) !== undefined) return;
        const value = known(await found.strategy.create(context))!;
        try {
          await this.versions.putPending(id, token, value);
        } catch (error) {
          // A concurrent attempt for the same token put its value first: that one stands.
          if ((await pending()) === undefined) throw error;
        }
        return;
      }
      case 'setSecret':
        return found.strategy.set(context, await this.required(pending(), secret, token));
      case 'testSecret': {
        const value = await pending();
        // No value: Secrets Manager's own configuration test (RotateSecret with RotateImmediately
        // false, e.g. a deploy creating the schedule) runs testSecret alone on an empty version.
        if (value === undefined) return;
        return found.strategy.test(context, value);
      }
      case 'finishSecret': {
        // Proven again right before promotion: the steps may be invoked out of order or directly
        // (whoever may call RotateSecret may invoke this function), and a refused key is never promoted.
        await found.strategy.test(context, await this.required(pending(), secret, token));
        const current = Object.entries(secret.versions).find(([, stages]) => stages.includes(CURRENT))?.[0];
        try {
          // Moving AWSCURRENT makes Secrets Manager label the version it leaves AWSPREVIOUS.
          await this.versions.moveStage(id, CURRENT, token, current);
        } catch (error) {
          // A concurrent attempt promoted the token while this one was testing: done, not failed.
          if (!(await this.versions.describe(id)).versions[token]?.includes(CURRENT)) throw error;
          return;
        }
        await this.afterPromotion(request, found, current, context);
        return;
      }
    }
  }

  /** What follows a promotion: the strategy retires the previous value, then the rotation is on record. */
  private async afterPromotion(
    request: RotationRequest,
    found: { name: string; config: SecretConfig; strategy: RotationStrategy },
    previous: string | undefined,
    context?: RotationContext,
  ): Promise<void> {
    const ctx = context ?? {
      name: found.name,
      config: found.config,
      current: undefined,
      versionValue: (versionId: string) => this.versions.value(request.secretId, { versionId }),
    };
    await found.strategy.finished?.(ctx, previous);
    await this.record(found, request, 'succeeded');
  }

  private async required(value: Promise<string | undefined>, secret: RotatingSecret, token: string): Promise<string> {
    const pending = await value;
    if (pending === undefined)
      throw new RotationError(
        'no_value',
        `version ${token} of secret ${secret.name} has no value yet (createSecret has not run)`,
      );
    return pending;
  }

  /** The config entry rotating this secret: matched by its Secrets Manager name or ARN. */
  private configOf(secret: RotatingSecret): { name: string; config: SecretConfig; strategy: RotationStrategy } {
    for (const [name, config] of Object.entries(this.config.secrets)) {
      const id = secretId(config.source);
      if (id !== secret.name && id !== secret.arn && !secret.arn.startsWith(`${id}-`)) continue;
      if (!config.rotation) throw new RotationError('no_strategy', `secret "${name}" has no rotation in the config`);
      return { name, config, strategy: this.strategies(name, config.rotation.strategy) };
    }
    throw new RotationError('unknown_secret', `secret ${secret.name} is not in the config`);
  }

  private record(
    found: { name: string; config: SecretConfig },
    request: RotationRequest,
    status: 'succeeded' | 'failed',
    error?: unknown,
  ): Promise<void> {
    return this.recorder.recordRotation(found.name, {
      status,
      step: request.step,
      versionId: request.token,
      strategy: found.config.rotation!.strategy,
      at: this.now().toISOString(),
      ...(error !== undefined ? { error: `${(error as Error).name}: ${(error as Error).message}`.slice(0, 500) } : {}),
    });
  }
}
