import './exposure.js';
import { SecretAdmin } from '../../../lib/secrets/admin.js';
import { config } from './config.js';
import { secretLedger } from './secret-ledger.js';
import { secretsManagerSource } from './secrets-manager.js';

// ROTATION_FUNCTION_ARN is set on the function that starts rotations (CDK and the local stack).
/** The secrets' metadata, figures, refresh and rotation (the `/v1/secrets` routes, the local rotation timer). */
export const secretAdmin = new SecretAdmin(config, secretsManagerSource, secretLedger, {
  rotationFunctionArn: process.env.ROTATION_FUNCTION_ARN,
});
