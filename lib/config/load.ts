import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from './errors.js';
import { type Config, configSchema } from './schema.js';

/** The config file used when THREADBOUND_CONFIG is not set. */
export const DEFAULT_CONFIG_FILE = 'threadbound.config.json';

/** Validates a parsed config object; throws ConfigError listing every issue with its JSON path. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return withoutPrototypes(result.data);
  const issues: ConfigIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
  const lines = issues.map((issue) => `  ${issue.path}: ${issue.message}`).join('\n');
  throw new ConfigError(`${source} is invalid:\n${lines}`, issues);
}

/** Reads and validates the config file (THREADBOUND_CONFIG, else ./threadbound.config.json). */
export function loadConfig(path = process.env.THREADBOUND_CONFIG ?? DEFAULT_CONFIG_FILE): Config {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read the config file ${file}: ${(cause as Error).message}`, [], { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${file} is not valid JSON: ${(cause as Error).message}`, [], { cause });
  }
  return parseConfig(raw, file);
}

/**
 * The config's name-keyed maps without Object.prototype: every lookup by a name from a request
 * (`secrets[name]`, `agents[name]`) then finds only configured entries, never "constructor" or
 * "toString" (the fuzzer's GET /v1/secrets/constructor was a 500).
 */
function withoutPrototypes(config: Config): Config {
  const bare = <T extends object>(map: T): T => Object.assign(Object.create(null) as T, map);
  return { ...config, agents: bare(config.agents), secrets: bare(config.secrets), providers: bare(config.providers) };
}
