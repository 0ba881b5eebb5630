import { type Config, KEYED_PROVIDERS, providerSecret } from '../config/schema.js';
import { loadProviderModule } from './provider-loader.js';

/** Proves a key against every provider that uses it; resolves with the providers asked (none: nothing uses the secret). */
export type KeyVerifier = (secretName: string, key: string) => Promise<string[]>;

/** The key checks of this build's providers, with the config's base URLs. */
export function providerKeyVerifier(config: Pick<Config, 'providers'>): KeyVerifier {
  return async (secretName, key) => {
    const candidates = new Set([...Object.keys(KEYED_PROVIDERS), ...Object.keys(config.providers)]);
    const providers = [...candidates].filter((provider) => providerSecret(config, `${provider}:any`) === secretName);
    for (const provider of providers) {
      const baseUrl = config.providers[provider]?.baseUrl;
      // The provider's SDK is loaded only when a key of that provider is checked.
      if (provider === 'anthropic') await (await loadProviderModule('anthropic')).verifyAnthropicKey(key, { baseUrl });
      else await (await loadProviderModule('openai')).verifyOpenAIKey(key, { baseUrl });
    }
    return providers;
  };
}
