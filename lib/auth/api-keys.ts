import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Who a valid API key belongs to. */
export interface Principal {
  tenant: string;
  admin: boolean;
  /** A short, non-secret id of the key (a prefix of its hash), recorded as the actor in audit entries. */
  keyId: string;
}

/** A stored API key: only its hash is kept. */
export interface ApiKeyRecord extends Omit<Principal, 'keyId'> {
  keyHash: string;
  label?: string;
  createdAt: string;
}

/** Where API key records live. */
export interface ApiKeyStore {
  findByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
  put(record: ApiKeyRecord): Promise<void>;
}

/** Tenant ids: lower-case, safe inside a DynamoDB key. */
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

const KEY_PREFIX = 'tb_';

/** A new random API key (256 bits): high entropy, so a fast hash is enough to store it safely. */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of an API key. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The short id of a key hash used in logs and audit entries. */
export function keyIdOf(keyHash: string): string {
  return `key_${keyHash.slice(0, 12)}`;
}

/** Extracts the key from an `Authorization: Bearer <key>` header value, or undefined. */
export function bearerKey(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Resolves an Authorization header to its principal, or undefined when the key is missing or unknown. */
export async function authenticate(
  store: ApiKeyStore,
  authorization: string | undefined,
): Promise<Principal | undefined> {
  const key = bearerKey(authorization);
  if (!key) return undefined;
  const keyHash = hashApiKey(key);
  const record = await store.findByHash(keyHash);
  // The lookup is by hash; compare again in constant time so a partial match leaks nothing.
  if (!record || !timingSafeEqual(Buffer.from(record.keyHash), Buffer.from(keyHash))) return undefined;
  return { tenant: record.tenant, admin: record.admin, keyId: keyIdOf(keyHash) };
}
