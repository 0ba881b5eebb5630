import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerSource } from '../../../lib/adapters/secrets-manager/secret-source.js';
import { tracer } from '../tracer.js';

// Endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER when set (the local stack), else the region's.
/** The Secrets Manager client, traced. */
export const secretsManager = tracer.captureAWSv3Client(new SecretsManagerClient({}));
/** The one source the resolver and the admin read through. */
export const secretsManagerSource = new SecretsManagerSource(secretsManager);
