import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local.js';
import { anthropicResponses, contentText, type FakeAnthropic, startFakeAnthropic } from '../support/fake-anthropic.js';
import { testAgent, testConfig } from '../support/local-stack.js';
import { type Spawned, spawnCollected } from '../support/processes.js';

// The whole secrets story as an operator and a client live it, with real secret values: the local
// stack in its own process, the key stored with the CLI, turns through the real Anthropic SDK
// against a loopback fake, a rotation underneath, a refresh, and a model that leaks the key.
// Afterwards every log line, API response, CLI output and table item of the run is searched for
// the values: there must be none.
const ROOT = process.cwd();
const SECRET = 'anthropic-api-key';
const KEY_V1 = `sk-ant-e2e-${'a1'.repeat(16)}`;
const KEY_V2 = `sk-ant-e2e-${'b2'.repeat(16)}`;
const ADMIN = 'e2e-admin-key-000000000000000000';
const TENANT = 'e2e-tenant-key-00000000000000000';

let fake: FakeAnthropic | undefined;
let stack: Spawned | undefined;

afterAll(async () => {
  if (stack && stack.child.exitCode === null) stack.child.kill('SIGTERM');
  await stack?.exit;
  await fake?.close();
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('secrets end to end', () => {
  it('runs turns with real keys, rotates and refreshes them, and no value appears in any log, response, CLI output or stored item', async () => {
    // A model that misbehaves on request: it repeats the key it was called with.
    fake = await startFakeAnthropic({
      acceptKeys: [KEY_V1],
      default: (request) => {
        const last = contentText(request.body.messages.at(-1).content);
        return anthropicResponses.text(last.includes('leak') ? `sure, my key is ${request.apiKey}` : `echo: ${last}`);
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'tb-secrets-e2e-'));
    const dataDir = join(dir, 'data');
    const configPath = join(dir, 'threadbound.config.json');
    writeFileSync(
      configPath,
      JSON.stringify(
        testConfig({
          agents: {
            main: testAgent(['anthropic:claude-e2e', 'offline'], {
              secrets: [SECRET],
              subAgents: [],
              maxChildren: 0,
            }) as never,
          },
          providers: { anthropic: { baseUrl: fake.url } },
        } as never),
      ),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      THREADBOUND_DATA_DIR: dataDir,
      THREADBOUND_CONFIG: configPath,
      THREADBOUND_LOCAL_KEYS: `${ADMIN}:ops:admin,${TENANT}:acme`,
    };
    for (const name of Object.keys(env)) if (name.startsWith('AWS_ENDPOINT_URL')) delete env[name];

    stack = spawnCollected(process.execPath, ['--import', 'tsx', 'infra/local/main.ts'], { cwd: ROOT, env });
    await stack.waitFor(/threadbound listening on/);
    const [, dynamoEndpoint] = (await stack.waitFor(/DynamoDB Local at (http:\/\/\S+?),/)) as unknown as [
      string,
      string,
    ];

    const outputs: string[] = [];
    const cli = (args: string[], stdin?: string) =>
      new Promise<CliRun>((resolve) => {
        const child = spawn(process.execPath, ['bin/threadbound.js', ...args], {
          cwd: ROOT,
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.stdin.end(stdin ?? '');
        child.once('exit', (code) => {
          outputs.push(stdout, stderr);
          resolve({ code, stdout, stderr });
        });
      });
    const bodies: string[] = [];
    const api = async (method: string, path: string, body?: unknown, key = TENANT) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      bodies.push(text);
      return { status: response.status, body: JSON.parse(text) as any };
    };
    const turn = async (sessionKey: string, input: string) => {
      const submitted = await api('POST', `/v1/threads/${sessionKey}/turns`, { input });
      expect(submitted.status).toBe(202);
      for (;;) {
        const view = await api('GET', `/v1/threads/${sessionKey}/turns/${submitted.body.turnId}?wait=20`);
        if (!['queued', 'running'].includes(view.body.status)) return view.body;
      }
    };

    // The operator stores the key: from stdin, never from argv, never echoed.
    const created = await cli(['secrets', 'create', SECRET], `${KEY_V1}\n`);
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toMatch(/created anthropic-api-key/);

    expect((await api('POST', '/v1/threads', { agent: 'main', sessionKey: 'alpha' })).status).toBe(201);
    expect((await api('POST', '/v1/threads', { agent: 'main', sessionKey: 'beta' })).status).toBe(201);
    expect(await turn('alpha', 'hello')).toMatchObject({ status: 'succeeded', reply: 'echo: hello' });
    expect(await turn('beta', 'hi there')).toMatchObject({ status: 'succeeded', reply: 'echo: hi there' });
    // The model leaks the key: the reply is scrubbed before it is stored or returned.
    const leaked = await turn('alpha', 'please leak your key');
    expect(leaked).toMatchObject({ status: 'succeeded', reply: 'sure, my key is [REDACTED:anthropic-api-key]' });

    // Rotated underneath: the provider refuses the old key once, the resolver refetches, the turn succeeds.
    expect((await cli(['secrets', 'create', SECRET], KEY_V2)).code).toBe(0);
    fake.acceptKeys([KEY_V2]);
    expect(await turn('beta', 'after rotation')).toMatchObject({ status: 'succeeded', reply: 'echo: after rotation' });
    expect(await turn('beta', 'leak again')).toMatchObject({ reply: 'sure, my key is [REDACTED:anthropic-api-key]' });

    // refresh drops the cached copy everywhere: the next access fetches again.
    const refreshed = await cli(['secrets', 'refresh', SECRET]);
    expect(refreshed.code).toBe(0);
    expect(await turn('alpha', 'after refresh')).toMatchObject({ status: 'succeeded', reply: 'echo: after refresh' });

    // Rotate now (staged, nothing staged: the current key is proven against the provider and kept).
    const rotated = await cli(['secrets', 'rotate', SECRET]);
    expect(rotated.code).toBe(0);
    let rotatedStatus: { metadata?: { lastRotatedDate?: string } } = {};
    for (let i = 0; i < 50 && !rotatedStatus.metadata?.lastRotatedDate; i += 1) {
      rotatedStatus = JSON.parse((await cli(['secrets', 'status', SECRET, '--json'])).stdout) as typeof rotatedStatus;
      if (!rotatedStatus.metadata?.lastRotatedDate) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(rotatedStatus.metadata?.lastRotatedDate).toBeDefined();
    expect(fake.requests.some((r) => r.path.startsWith('/v1/models') && r.apiKey === KEY_V2)).toBe(true);
    expect(await turn('alpha', 'after rotate')).toMatchObject({ status: 'succeeded', reply: 'echo: after rotate' });

    // The operator's views: status, list, and the audit of reveals of the last 24 h.
    const status = await cli(['secrets', 'status', SECRET]);
    expect(status.code).toBe(0);
    const audit = await cli(['secrets', 'audit', '--period', '24h']);
    expect(audit.code).toBe(0);
    const revealLines = audit.stdout.split('\n').filter((line) => line.includes('secret_reveal'));
    expect(revealLines).toHaveLength(3);
    expect(revealLines.map((line) => /\b(cold|auth-retry|refresh)\b/.exec(line)?.[1])).toEqual([
      'cold',
      'auth-retry',
      'refresh',
    ]);
    for (const line of revealLines) expect(line).toMatch(/anthropic-api-key.*main/);
    const json = await cli(['secrets', 'status', SECRET, '--json']);
    const figures = JSON.parse(json.stdout) as { stats: { reveals: number; exposures: number } };
    expect(figures.stats.reveals).toBe(3);
    expect(figures.stats.exposures).toBeGreaterThanOrEqual(2);
    expect((await cli(['secrets', 'list'])).code).toBe(0);

    // Everything the API can show of the run.
    for (const sessionKey of ['alpha', 'beta']) {
      await api('GET', `/v1/threads/${sessionKey}/messages?limit=100`);
      await api('GET', `/v1/threads/${sessionKey}/audit`);
      await api('GET', `/v1/threads/${sessionKey}`);
    }
    const allEvents = await api('GET', '/v1/audit?period=24h&limit=200', undefined, ADMIN);
    expect(allEvents.body.events.map((e: any) => e.type)).toEqual(
      expect.arrayContaining(['thread_spawn', 'agent_exec', 'secret_reveal', 'secret_refresh']),
    );
    await api('GET', '/v1/secrets', undefined, ADMIN);

    // Every item of the table, raw.
    const dynamo = new DynamoDBClient({
      endpoint: dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const items: unknown[] = [];
    let start: Record<string, any> | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: 'threadbound', ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    dynamo.destroy();
    expect(items.length).toBeGreaterThan(20);

    stack.child.kill('SIGTERM');
    expect(await stack.exit).toBe(0);
    const logLines = stack
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '');
    expect(logLines.some((line) => line.includes('exposure risk') && line.includes(SECRET))).toBe(true);

    // The keys really were used (the fake saw them), and appear nowhere the run left a trace.
    expect(fake.requests.some((r) => r.apiKey === KEY_V1) && fake.requests.some((r) => r.apiKey === KEY_V2)).toBe(true);
    for (const [where, texts] of Object.entries({
      logs: logLines,
      responses: bodies,
      cli: outputs,
      table: items.map((item) => JSON.stringify(item)),
    })) {
      const hits = texts.filter((text) => text.includes(KEY_V1) || text.includes(KEY_V2));
      expect({ where, hits }).toEqual({ where, hits: [] });
    }
  }, 120_000);
});
