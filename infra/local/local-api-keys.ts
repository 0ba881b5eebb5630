import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ApiKeyStore, generateApiKey, hashApiKey, TENANT_PATTERN } from '../../lib/auth/api-keys.js';
import { LocalStackError } from './errors.js';

/** An API key of the local stack, in clear (it is printed for the developer and kept in the data dir). */
export interface LocalKey {
  key: string;
  tenant: string;
  admin: boolean;
}

/** Parses THREADBOUND_LOCAL_KEYS: `<key>:<tenant>[:admin],…`. */
export function parseLocalKeys(text: string): LocalKey[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [key, tenant, flag, ...rest] = part.split(':');
      if (
        !key ||
        key.length < 16 ||
        !tenant ||
        !TENANT_PATTERN.test(tenant) ||
        (flag !== undefined && flag !== 'admin') ||
        rest.length > 0
      ) {
        throw new LocalStackError(
          'invalid_local_keys',
          `THREADBOUND_LOCAL_KEYS: "${part.slice(0, 8)}…" is not <key>:<tenant>[:admin] (key at least 16 characters, tenant lower-case letters, digits and "-")`,
        );
      }
      return { key, tenant, admin: flag === 'admin' };
    });
}

/**
 * The keys of the local stack: THREADBOUND_LOCAL_KEYS if set; otherwise the ones generated at the
 * first start and kept in <dataDir>/keys.json (an admin key and a tenant key).
 */
export function localKeys(dataDir: string, fromEnv: string | undefined): { keys: LocalKey[]; generated: boolean } {
  if (fromEnv) return { keys: parseLocalKeys(fromEnv), generated: false };
  const file = join(dataDir, 'keys.json');
  if (existsSync(file)) return { keys: JSON.parse(readFileSync(file, 'utf8')) as LocalKey[], generated: false };
  const keys: LocalKey[] = [
    { key: generateApiKey(), tenant: 'ops', admin: true },
    { key: generateApiKey(), tenant: 'demo', admin: false },
  ];
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return { keys, generated: true };
}

/** Stores the keys hashed, exactly as the cloud does. */
export async function registerKeys(store: ApiKeyStore, keys: LocalKey[]): Promise<void> {
  const createdAt = new Date().toISOString();
  for (const { key, tenant, admin } of keys)
    await store.put({ keyHash: hashApiKey(key), tenant, admin, label: 'local', createdAt });
}
