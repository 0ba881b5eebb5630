import { randomBytes } from 'node:crypto';
import { durationMs } from '../config/duration.js';
import type { KeyVerifier } from '../models/key-check.js';
import { RotationError } from './errors.js';
import type { ProviderKeyAdmin, RevocationQueue, RotationContext, RotationStrategy } from './ports.js';

/** Bytes of a generated value (256 bits, base64url: 43 characters). */
const GENERATED_BYTES = 32;
const GENERATED_FORMAT = /^[A-Za-z0-9_-]{43}$/;
/** Margin past the cache duration before a retired key is revoked: a turn that read it just before may still be using it. */
const REVOCATION_MARGIN_MS = 15 * 60_000;

/**
 * `generated`: a value the system owns (a signing key, a pepper). Created here, nothing external
 * to set, tested for its format. Consumers accept AWSPREVIOUS during the rotation window.
 */
export const generatedStrategy: RotationStrategy = {
  create: async () => randomBytes(GENERATED_BYTES).toString('base64url'),
  set: async () => undefined,
  test: async ({ name }, pending) => {
    if (!GENERATED_FORMAT.test(pending))
      throw new RotationError(
        'test_failed',
        `the pending value of "${name}" is not a generated ${GENERATED_BYTES}-byte key`,
      );
  },
};

/**
 * `staged`: a provider key the operator obtains and stages as AWSPENDING (`threadbound secrets
 * create NAME --pending`). testSecret proves it against every provider that uses the secret; a key
 * that fails stays pending and is never promoted. With nothing staged, the rotation re-proves the
 * current key and changes nothing but the version id.
 */
export function stagedStrategy(verify: KeyVerifier): RotationStrategy {
  return {
    create: async ({ name, current }) => {
      if (current === undefined)
        throw new RotationError('no_value', `nothing is staged for "${name}" and it has no current value`);
      return current;
    },
    set: async () => undefined,
    test: (context, pending) => prove(verify, context, pending),
  };
}

/**
 * `provider-admin`: the provider mints a new key (createSecret) and revokes the old one — but only
 * once every cache could have dropped it (cacheDuration plus a margin after finishSecret); due
 * revocations run at the start of the next rotation.
 */
export function providerAdminStrategy(
  admin: ProviderKeyAdmin,
  verify: KeyVerifier,
  revocations: RevocationQueue,
  now: () => Date = () => new Date(),
): RotationStrategy {
  return {
    create: async (context) => {
      for (const versionId of await revocations.due(context.name, now().toISOString())) {
        const retired = await context.versionValue(versionId);
        if (retired !== undefined) await admin.revoke(retired);
        await revocations.done(context.name, versionId);
      }
      return admin.mint(context.current);
    },
    set: async () => undefined,
    test: (context, pending) => prove(verify, context, pending),
    finished: async ({ name, config }, previousVersionId) => {
      if (previousVersionId === undefined) return;
      const notBefore = new Date(
        now().getTime() + durationMs(config.cacheDuration) + REVOCATION_MARGIN_MS,
      ).toISOString();
      await revocations.schedule(name, previousVersionId, notBefore);
    },
  };
}

async function prove(verify: KeyVerifier, { name }: RotationContext, pending: string): Promise<void> {
  try {
    await verify(name, pending);
  } catch (error) {
    throw new RotationError('test_failed', `the pending key of "${name}" was refused: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
