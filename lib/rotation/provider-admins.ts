import type { ProviderKeyAdmin } from './ports.js';

/**
 * Providers that can mint and revoke their own keys, by the config name of the secret they rotate
 * (`rotation.strategy: "provider-admin"`). None of the built-in providers offers a key admin API;
 * register yours here (code, not config: it holds the admin credentials' logic).
 */
export const PROVIDER_KEY_ADMINS: ReadonlyMap<string, ProviderKeyAdmin> = new Map();
