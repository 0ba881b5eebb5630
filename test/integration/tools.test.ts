import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load.js';
import { httpGetTool, spawnTool } from '../../lib/tools/builtins.js';
import type { ToolContext } from '../../lib/tools/port.js';
import { ToolRegistry } from '../../lib/tools/registry.js';
import { testAgent } from '../support/local-stack.js';

// The tools' own rules, below the runtime: the registry's permission check and http.get's allowlist.
let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    hits += 1;
    res.end('x'.repeat(40_000));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => server.close());

const context = (httpAllowHosts: string[]): ToolContext => ({
  agent: 'a',
  tenant: 't',
  sessionKey: 's',
  turnId: 'turn_x',
  httpAllowHosts,
  signal: AbortSignal.timeout(5_000),
});

describe('ToolRegistry', () => {
  const config = parseConfig({
    threadManagement: { maxThreads: 5 },
    agents: {
      a: testAgent(['offline'], { tools: { allow: ['http.get'], deny: ['spawn'] } }),
      b: testAgent(['offline']),
    },
  });
  const registry = new ToolRegistry([httpGetTool, spawnTool]);

  it('offers only what allow names and deny does not; deny wins over allow; unknown and unlisted tools are refused', () => {
    expect(registry.offered(config.agents.a!).map((t) => t.name)).toEqual(['http.get']);
    expect(registry.offered(config.agents.b!)).toEqual([]);
    expect(registry.decide(config.agents.a!, 'http.get')).toMatchObject({ allowed: true });
    expect(registry.decide(config.agents.a!, 'spawn')).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('tools.deny'),
    });
    expect(registry.decide(config.agents.b!, 'http.get')).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('tools.allow'),
    });
    const denyWins = {
      ...config.agents.a!,
      tools: { ...config.agents.a!.tools, allow: ['http.get'], deny: ['http.get'] },
    };
    expect(registry.decide(denyWins, 'http.get')).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('tools.deny'),
    });
    expect(() => new ToolRegistry([httpGetTool, httpGetTool])).toThrow(/twice/);
  });

  it('the config refuses a tool name with "__" (it would collide with a dotted name at the provider)', () => {
    expect(() =>
      parseConfig({
        threadManagement: { maxThreads: 5 },
        agents: { a: testAgent(['offline'], { tools: { allow: ['memory__write'] } }) },
      }),
    ).toThrow(/must not contain "__"/);
  });
});

describe('http.get', () => {
  it('fetches only exact allowed host:port pairs, caps the body, and never sends URL credentials', async () => {
    const url = `http://127.0.0.1:${port}/page`;
    const before = hits;
    const page = await httpGetTool.run({ url }, context([`127.0.0.1:${port}`]));
    expect(page.startsWith('HTTP 200\n')).toBe(true);
    expect(page.endsWith('[truncated]')).toBe(true);
    expect(page.length).toBeLessThan(17_000);
    // A portless entry allows only the default port: not this one.
    await expect(httpGetTool.run({ url }, context(['127.0.0.1']))).rejects.toThrow(
      /not in this agent's tools.httpAllowHosts/,
    );
    await expect(httpGetTool.run({ url: `http://localhost:${port}/` }, context([`127.0.0.1:${port}`]))).rejects.toThrow(
      /not in/,
    );
    await expect(
      httpGetTool.run({ url: `http://user:pw@127.0.0.1:${port}/` }, context([`127.0.0.1:${port}`])),
    ).rejects.toThrow(/credentials/);
    await expect(httpGetTool.run({ url: 'file:///etc/passwd' }, context(['127.0.0.1']))).rejects.toThrow(/only http/);
    await expect(httpGetTool.run({ url, extra: 1 }, context([`127.0.0.1:${port}`]))).rejects.toThrow(/invalid input/);
    expect(hits - before).toBe(1);
  });
});
