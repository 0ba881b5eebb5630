import type { SecretConfig } from '../config/schema.js';

const SCHEME = 'aws-secretsmanager://';

/** The SecretId to ask Secrets Manager for: the name of an `aws-secretsmanager://` source, else the ARN. */
export function secretId(source: SecretConfig['source']): string {
  return source.startsWith(SCHEME) ? source.slice(SCHEME.length) : source;
}

/** True when the source names a secret the stack owns (by name) rather than one it imports by ARN. */
export function isOwnedSource(source: SecretConfig['source']): boolean {
  return source.startsWith(SCHEME);
}

/**
 * The field that marks a value CloudFormation generated when it created a secret the operator must
 * set (`threadbound secrets create`): such a value is "not set yet", never a key to send.
 */
export const PLACEHOLDER_FIELD = 'threadboundPlaceholder';

/** True for a placeholder value (see PLACEHOLDER_FIELD). */
export function isPlaceholder(value: string): boolean {
  return value.startsWith('{') && value.includes(`"${PLACEHOLDER_FIELD}"`);
}
