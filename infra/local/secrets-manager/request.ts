import { invalidRequest, ServiceError, validation } from './service-error.js';

/** A request body of the JSON protocol: an object of members. */
export type Body = Record<string, unknown>;

const wireName = (key: string) => key.charAt(0).toLowerCase() + key.slice(1);

/** A string member of the request, checked against the service model's length limits. */
export function text(
  body: Body,
  key: string,
  limits: { required?: boolean; min?: number; max?: number } = {},
): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (limits.required) throw validation(wireName(key), 'not be null');
    return undefined;
  }
  if (typeof value !== 'string') throw new ServiceError('SerializationException', `${key} must be a string`);
  // Secret values are never echoed back in an error message.
  const shown = key === 'SecretString' || key === 'SecretBinary' ? '***' : value;
  if (limits.min !== undefined && value.length < limits.min)
    throw validation(wireName(key), `have length greater than or equal to ${limits.min}`, shown);
  if (limits.max !== undefined && value.length > limits.max)
    throw validation(wireName(key), `have length less than or equal to ${limits.max}`, shown);
  return value;
}

/** An integer member of the request, checked against the service model's range. */
export function integer(body: Body, key: string, range: { min?: number; max?: number } = {}): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new ServiceError('SerializationException', `${key} must be an integer`);
  if (range.min !== undefined && value < range.min)
    throw validation(wireName(key), `have value greater than or equal to ${range.min}`, value);
  if (range.max !== undefined && value > range.max)
    throw validation(wireName(key), `have value less than or equal to ${range.max}`, value);
  return value;
}

/** A boolean member of the request. */
export function bool(body: Body, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ServiceError('SerializationException', `${key} must be a boolean`);
  return value;
}

/** The SecretId member every operation but CreateSecret and ListSecrets requires. */
export const secretId = (body: Body) => text(body, 'SecretId', { required: true, min: 1, max: 2048 })!;
/** A version id member (ClientRequestToken, VersionId, MoveToVersionId, …), within the model's length. */
export const versionIdParam = (body: Body, key: string) => text(body, key, { min: 32, max: 64 });

/** The secret value of a request: exactly one of SecretString / SecretBinary, neither empty. */
export function secretValue(body: Body): { secretString?: string; secretBinary?: string } | undefined {
  const secretString = text(body, 'SecretString', { max: 65_536 });
  const secretBinary = text(body, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined)
    throw invalidRequest("You can't specify both SecretString and SecretBinary.");
  // AWS rejects an empty string as if no value had been given.
  if (secretString === '' || secretBinary === '')
    throw invalidRequest('You must provide either SecretString or SecretBinary.');
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary };
  return undefined;
}
