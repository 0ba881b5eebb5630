import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durationMs } from '../../lib/config/duration.js';
import { ConfigError } from '../../lib/config/errors.js';
import { loadConfig, parseConfig } from '../../lib/config/load.js';
import { testConfig } from '../support/local-stack.js';

const issuesOf = (raw: unknown) => {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
};

describe('config', () => {
  it('finds no entry named like an Object.prototype member (GET /v1/secrets/constructor was a 500, fuzz seed 374723118)', () => {
    const config = parseConfig(testConfig());
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(config.secrets[name]).toBeUndefined();
      expect(config.agents[name]).toBeUndefined();
      expect(config.providers[name]).toBeUndefined();
    }
    expect(Object.keys(config.agents).length).toBeGreaterThan(0);
  });

  it('loads the shipped config with the four demo agents and defaults applied', () => {
    const config = loadConfig('threadbound.config.json');
    expect(Object.keys(config.agents)).toEqual(['main', 'data', 'analysis', 'trading']);
    expect(config.agents.data!.autoDestroy).toBe(false);
    expect(config.agents.main!.subAgents).toEqual(['data', 'analysis', 'trading']);
    expect(config.secrets['anthropic-api-key']!.rotation?.strategy).toBe('staged');
  });

  it('parses durations', () => {
    expect(durationMs('30s')).toBe(30_000);
    expect(durationMs('30m')).toBe(1_800_000);
    expect(durationMs('1h')).toBe(3_600_000);
    expect(durationMs('7d')).toBe(604_800_000);
    expect(() => durationMs('1.5h')).toThrow(RangeError);
    expect(() => durationMs('0s')).toThrow(RangeError);
  });

  it.each([
    ['a bad duration', { agents: { main: { timeout: 'two minutes' } } }, 'agents.main.timeout', 'duration'],
    ['a timeout above the Lambda limit', { agents: { main: { timeout: '20m' } } }, 'agents.main.timeout', '15m'],
    [
      'an unknown sub-agent',
      { agents: { main: { subAgents: ['data', 'ghost'] } } },
      'agents.main.subAgents.1',
      'ghost',
    ],
    ['an unknown secret', { agents: { data: { secrets: ['nope'] } } }, 'agents.data.secrets.0', 'nope'],
    [
      'a tool both allowed and denied',
      { agents: { data: { tools: { allow: ['http.get'], deny: ['http.get'] } } } },
      'agents.data.tools.allow.0',
      'both',
    ],
    ['an unknown field (a typo)', { threadManagement: { maxThread: 5 } }, 'threadManagement', 'maxThread'],
    ['a negative limit', { agents: { data: { maxActiveThreads: -1 } } }, 'agents.data.maxActiveThreads', ''],
    ['a bad onBusy', { threadManagement: { onBusy: 'drop' } }, 'threadManagement.onBusy', ''],
    [
      'a bad secret source',
      { secrets: { 'anthropic-api-key': { source: 'file:///etc/key' } } },
      'secrets.anthropic-api-key.source',
      'aws-secretsmanager',
    ],
    ['a bad model reference', { agents: { data: { models: ['gpt4'] } } }, 'agents.data.models.0', 'provider'],
    ['a bad agent name', { agents: { 'Bad Name': { models: ['offline'] } } }, 'agents', ''],
    [
      'a model whose API key the agent may not read',
      { agents: { data: { models: ['anthropic:claude-x', 'offline'] } } },
      'agents.data.models.0',
      'add it to this agent',
    ],
    [
      'a provider key secret the agent does not list',
      { providers: { anthropic: { apiKeySecret: 'other-key' } } },
      'agents.main.models.0',
      '"other-key"',
    ],
    [
      'a provider base URL that is not http(s)',
      { providers: { anthropic: { baseUrl: 'ftp://example.com' } } },
      'providers.anthropic.baseUrl',
      '',
    ],
    [
      'an envVar that is no variable name',
      { secrets: { 'anthropic-api-key': { envVar: 'my key' } } },
      'secrets.anthropic-api-key.envVar',
      'environment variable',
    ],
    [
      'a secret ARN of another service',
      { secrets: { 'anthropic-api-key': { source: 'arn:aws:ssm:us-east-1:123456789012:parameter/key' } } },
      'secrets.anthropic-api-key.source',
      'ARN',
    ],
    [
      'a bad cacheDuration',
      { secrets: { 'anthropic-api-key': { cacheDuration: 'forever' } } },
      'secrets.anthropic-api-key.cacheDuration',
      'duration',
    ],
  ])('rejects %s with its JSON path', (_name, overrides, path, text) => {
    const issues = issuesOf(testConfig(overrides as never));
    const issue = issues.find((i) => i.path.startsWith(path));
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(`${issue!.path} ${issue!.message}`).toContain(text);
  });

  it('accepts secret references by name or ARN, with jsonKey and envVar, and a provider with its own key secret and base URL', () => {
    const config = parseConfig(
      testConfig({
        agents: { main: { secrets: ['anthropic-api-key', 'shared'] } },
        secrets: {
          shared: {
            source: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/shared-AbC123',
            jsonKey: 'token',
            envVar: 'SHARED_TOKEN',
          },
        },
        providers: { anthropic: { baseUrl: 'http://127.0.0.1:8080' } },
      } as never),
    );
    expect(config.secrets.shared).toMatchObject({ cacheDuration: '1h', jsonKey: 'token', envVar: 'SHARED_TOKEN' });
    expect(config.providers.anthropic?.baseUrl).toBe('http://127.0.0.1:8080');
  });

  it('fails fast on a missing file or invalid JSON, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-config-'));
    expect(() => loadConfig(join(dir, 'missing.json'))).toThrow(/cannot read the config file .*missing\.json/);
    writeFileSync(join(dir, 'broken.json'), '{ "threadManagement": ');
    expect(() => loadConfig(join(dir, 'broken.json'))).toThrow(/broken\.json is not valid JSON/);
  });

  it('reads the file named by THREADBOUND_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-config-'));
    const file = join(dir, 'other.json');
    writeFileSync(file, JSON.stringify(testConfig({ threadManagement: { maxThreads: 7 } })));
    const previous = process.env.THREADBOUND_CONFIG;
    process.env.THREADBOUND_CONFIG = file;
    try {
      expect(loadConfig().threadManagement.maxThreads).toBe(7);
    } finally {
      if (previous === undefined) delete process.env.THREADBOUND_CONFIG;
      else process.env.THREADBOUND_CONFIG = previous;
    }
  });
});
