import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** The data dir of the local stack when THREADBOUND_DATA_DIR is not set (as `npm start` uses it). */
export const DEFAULT_DATA_DIR = '.threadbound';
/** What a running `npm start` writes in its data dir: how to reach it (removed when it stops). */
export const LOCAL_ENDPOINTS_FILE = 'local.json';
/** The API keys `npm start` generates on first start: `[{ key, tenant, admin }]`. */
export const LOCAL_KEYS_FILE = 'keys.json';

/** What `<dataDir>/local.json` says about a running local stack. */
export interface LocalEndpoints {
  file: string;
  url?: string;
  secretsManagerEndpoint?: string;
}

/** The environment variables and flags the connection comes from. */
export interface ConnectionInput {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  url?: string;
  key?: string;
}

/** Which key a command needs: an admin key, or any tenant key (a tenant key is preferred from keys.json). */
export type KeyRole = 'admin' | 'tenant';

/** How to reach the API, and where each part came from (for messages; never the key itself). */
export interface ApiConnection {
  url: string;
  urlSource: string;
  key: string;
  keySource: string;
}

/** The local stack's data dir: THREADBOUND_DATA_DIR, else ./.threadbound. */
export function dataDir(input: Pick<ConnectionInput, 'env' | 'cwd'>): string {
  const dir = input.env.THREADBOUND_DATA_DIR || DEFAULT_DATA_DIR;
  return isAbsolute(dir) ? dir : resolve(input.cwd, dir);
}

/** `<dataDir>/local.json`, or undefined when no local stack is running (the file is absent). */
export function readLocalEndpoints(input: Pick<ConnectionInput, 'env' | 'cwd'>): LocalEndpoints | undefined {
  const file = join(dataDir(input), LOCAL_ENDPOINTS_FILE);
  const raw = readJson(file);
  if (raw === undefined) return undefined;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new CliError('bad_local_file', `${file} is not a JSON object`);
  const { url, secretsManagerEndpoint } = raw as Record<string, unknown>;
  return {
    file,
    ...(typeof url === 'string' && url ? { url } : {}),
    ...(typeof secretsManagerEndpoint === 'string' && secretsManagerEndpoint ? { secretsManagerEndpoint } : {}),
  };
}

/**
 * The API's base URL and key.
 *
 * URL: `--url`, else THREADBOUND_URL, else the `url` of a running local stack (`<dataDir>/local.json`).
 * Key: `--key`, else THREADBOUND_API_KEY, else — only when the URL is a loopback one, so a local key
 * is never sent elsewhere — the local stack's keys (THREADBOUND_LOCAL_KEYS, else `<dataDir>/keys.json`):
 * the admin key for admin commands, a tenant key (else the admin key) for the others.
 */
export function resolveApiConnection(input: ConnectionInput, role: KeyRole): ApiConnection {
  let url: string | undefined;
  let urlSource: string;
  if (input.url) {
    url = input.url;
    urlSource = '--url';
  } else if (input.env.THREADBOUND_URL) {
    url = input.env.THREADBOUND_URL;
    urlSource = 'THREADBOUND_URL';
  } else {
    const local = readLocalEndpoints(input);
    if (!local?.url) {
      throw new CliError(
        'no_api_url',
        `no API URL: pass --url URL or set THREADBOUND_URL (for a local stack, run \`npm start\`: it writes ${join(dataDir(input), LOCAL_ENDPOINTS_FILE)}, where THREADBOUND_DATA_DIR points)`,
      );
    }
    url = local.url;
    urlSource = local.file;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError('bad_api_url', `the API URL from ${urlSource} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new CliError('bad_api_url', `the API URL from ${urlSource} must be http(s)`);

  if (input.key) return { url, urlSource, key: input.key, keySource: '--key' };
  if (input.env.THREADBOUND_API_KEY)
    return { url, urlSource, key: input.env.THREADBOUND_API_KEY, keySource: 'THREADBOUND_API_KEY' };
  const hint = role === 'admin' ? 'an admin key' : 'an API key';
  if (!isLoopback(parsed)) {
    throw new CliError(
      'no_api_key',
      `no API key: pass --key KEY or set THREADBOUND_API_KEY (${hint}; local keys are used only for a local stack URL)`,
    );
  }
  const local = localKeys(input);
  const chosen =
    role === 'admin'
      ? local?.keys.find((k) => k.admin)
      : (local?.keys.find((k) => !k.admin) ?? local?.keys.find((k) => k.admin));
  if (!local || !chosen) {
    const where = local
      ? `${local.source} has no ${role === 'admin' ? 'admin ' : ''}key`
      : `no ${join(dataDir(input), LOCAL_KEYS_FILE)}`;
    throw new CliError('no_api_key', `no API key: pass --key KEY or set THREADBOUND_API_KEY (${hint}); ${where}`);
  }
  return { url, urlSource, key: chosen.key, keySource: local.source };
}

interface LocalKey {
  key: string;
  tenant: string;
  admin: boolean;
}

/** The local stack's keys: THREADBOUND_LOCAL_KEYS (`<key>:<tenant>[:admin],…`), else `<dataDir>/keys.json`. */
function localKeys(input: Pick<ConnectionInput, 'env' | 'cwd'>): { keys: LocalKey[]; source: string } | undefined {
  const fromEnv = input.env.THREADBOUND_LOCAL_KEYS;
  if (fromEnv) {
    const keys = fromEnv
      .split(',')
      .map((part) => part.trim().split(':'))
      .filter(([key, tenant]) => key && tenant)
      .map(([key, tenant, flag]) => ({ key: key!, tenant: tenant!, admin: flag === 'admin' }));
    return { keys, source: 'THREADBOUND_LOCAL_KEYS' };
  }
  const file = join(dataDir(input), LOCAL_KEYS_FILE);
  const raw = readJson(file);
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw))
    throw new CliError('bad_local_file', `${file} is not a JSON array of { key, tenant, admin }`);
  const keys = raw
    .filter((k): k is LocalKey => k !== null && typeof k === 'object' && typeof k.key === 'string' && k.key.length > 0)
    .map((k) => ({ key: k.key, tenant: String(k.tenant), admin: k.admin === true }));
  return { keys, source: file };
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** A JSON file's content, or undefined when the file does not exist. */
function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(
      'bad_local_file',
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    // Never echo the content: keys.json holds keys.
    throw new CliError('bad_local_file', `${file} is not valid JSON`);
  }
}
