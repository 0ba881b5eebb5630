import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCliInMemory } from '../support/cli.js';

// A unit test of the CLI's parsing, connection discovery and formatting: the CLI runs in-process
// against a loopback server answering canned JSON in the API's shapes and recording every request.

const ADMIN_KEY = 'tb_admin_0123456789abcdefXYZ';
const TENANT_KEY = 'tb_tenant_0123456789abcdefXYZ';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
}

type Reply = { status: number; body: unknown };
type Route = (request: Recorded) => Reply;

let server: Server;
let url: string;
let requests: Recorded[] = [];
let routes: Record<string, Route> = {};
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const parsed = new URL(req.url ?? '/', 'http://x');
    const request: Recorded = {
      method: req.method ?? '',
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      headers: req.headers,
    };
    requests.push(request);
    const route = routes[`${request.method} ${request.path}`];
    const reply = route
      ? route(request)
      : { status: 404, body: { error: { code: 'not_found', message: `no route ${request.method} ${request.path}` } } };
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
});

beforeEach(() => {
  requests = [];
  routes = {};
  dir = mkdtempSync(join(tmpdir(), 'tb-cli-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A data dir as a running `npm start` leaves it: local.json (the URL) and keys.json. */
function localStack(dataDir = join(dir, '.threadbound')): string {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'local.json'), JSON.stringify({ url, secretsManagerEndpoint: 'http://127.0.0.1:1' }));
  writeFileSync(
    join(dataDir, 'keys.json'),
    JSON.stringify([
      { key: ADMIN_KEY, tenant: 'ops', admin: true },
      { key: TENANT_KEY, tenant: 'demo', admin: false },
    ]),
  );
  return dataDir;
}

async function run(
  argv: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runCliInMemory(argv, { env, cwd: dir });
  // Whatever happened, no output carries a key.
  for (const text of [stdout, stderr]) {
    expect(text).not.toContain(ADMIN_KEY);
    expect(text).not.toContain(TENANT_KEY);
  }
  return { code, stdout, stderr };
}

const secret = {
  name: 'anthropic-api-key',
  source: 'aws-secretsmanager://threadbound/anthropic-api-key',
  cacheDuration: '1h',
  rotation: { schedule: 'cron(0 3 * * ? *)', strategy: 'staged' },
  agents: ['main'],
  stats: {
    accesses: 42,
    reveals: 3,
    denials: 1,
    epoch: 2,
    exposures: 0,
    lastRevealAt: '2025-02-01T10:00:00.000Z',
    lastRevealVersionId: 'v-current',
    lastRotatedAt: '2025-02-01T03:00:01.000Z',
    lastRotatedVersionId: 'v-current',
    lastRotationFailure: {
      at: '2025-02-02T03:00:01.000Z',
      step: 'testSecret',
      versionId: 'v-pending',
      error: 'RotationError: the pending key was refused',
    },
  },
  metadata: {
    arn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:threadbound/anthropic-api-key-AbCdEf',
    versions: { AWSPREVIOUS: ['v-old'], AWSCURRENT: ['v-current'], AWSPENDING: ['v-pending'] },
    rotationEnabled: true,
    lastRotatedDate: '2025-02-01T03:00:00.000Z',
    nextRotationDate: '2025-02-02T03:00:00.000Z',
    lastChangedDate: '2025-02-01T03:00:01.000Z',
  },
  exists: true,
};
const missing = {
  name: 'other-key',
  source: 'aws-secretsmanager://threadbound/other-key',
  cacheDuration: '5m',
  agents: [],
  stats: { accesses: 0, reveals: 0, denials: 0, epoch: 0, exposures: 0 },
  exists: false,
};

describe('threadbound CLI against the API', () => {
  it('secrets list: GET /v1/secrets with the admin key of the local stack, as a table', async () => {
    localStack();
    routes['GET /v1/secrets'] = () => ({ status: 200, body: { secrets: [secret, missing] } });
    const { code, stdout, stderr } = await run(['secrets', 'list']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.method).toBe('GET');
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${ADMIN_KEY}`);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s+EXISTS\s+AGENTS\s+CACHE\s+ROTATION\s+ACCESSES\s+REVEALS\s+DENIALS\s+EXPOSURES\s+LAST REVEAL$/,
    );
    expect(lines[1]).toMatch(
      /^anthropic-api-key\s+yes\s+main\s+1h\s+staged cron\(0 3 \* \* \? \*\)\s+42\s+3\s+1\s+0\s+2025-02-01T10:00:00.000Z$/,
    );
    expect(lines[2]).toMatch(/^other-key\s+no\s+-\s+5m\s+-\s+0\s+0\s+0\s+0\s+-$/);
  });

  it('--json prints the raw answer', async () => {
    localStack();
    routes['GET /v1/secrets'] = () => ({ status: 200, body: { secrets: [secret] } });
    const { code, stdout } = await run(['secrets', 'list', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ secrets: [secret] });
  });

  it('secrets status NAME: a key/value block with the versions by stage', async () => {
    localStack();
    routes['GET /v1/secrets/anthropic-api-key'] = () => ({ status: 200, body: secret });
    const { code, stdout } = await run(['secrets', 'status', 'anthropic-api-key']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^name\s+anthropic-api-key$/m);
    expect(stdout).toMatch(/^rotation\s+staged, cron\(0 3 \* \* \? \*\)$/m);
    expect(stdout).toMatch(/^rotation enabled\s+yes$/m);
    expect(stdout).toMatch(/^last rotated\s+2025-02-01T03:00:00.000Z$/m);
    expect(stdout).toMatch(/^next rotation\s+2025-02-02T03:00:00.000Z$/m);
    expect(stdout).toMatch(/^versions\s+AWSCURRENT\s+v-current\n\s+AWSPENDING\s+v-pending\n\s+AWSPREVIOUS\s+v-old$/m);
    expect(stdout).toMatch(/^accesses\s+42$/m);
    expect(stdout).toMatch(/^last reveal\s+2025-02-01T10:00:00.000Z \(version v-current\)$/m);
    expect(stdout).toMatch(/^last rotation\s+2025-02-01T03:00:01.000Z \(version v-current\)$/m);
    expect(stdout).toMatch(
      /^rotation failed\s+2025-02-02T03:00:01.000Z at testSecret \(version v-pending\): RotationError: the pending key was refused$/m,
    );
  });

  it('secrets status of a secret Secrets Manager does not have yet says how to create it', async () => {
    localStack();
    routes['GET /v1/secrets/other-key'] = () => ({ status: 200, body: missing });
    const { code, stdout } = await run(['secrets', 'status', 'other-key']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^exists\s+no$/m);
    expect(stdout).toContain('threadbound secrets create other-key');
  });

  it('secrets rotate and refresh POST to their routes', async () => {
    localStack();
    routes['POST /v1/secrets/anthropic-api-key/rotate'] = () => ({
      status: 202,
      body: { name: 'anthropic-api-key', versionId: 'v-new' },
    });
    routes['POST /v1/secrets/anthropic-api-key/refresh'] = () => ({
      status: 200,
      body: { name: 'anthropic-api-key', epoch: 3 },
    });
    const rotated = await run(['secrets', 'rotate', 'anthropic-api-key']);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain('rotation of anthropic-api-key started: new version v-new');
    const refreshed = await run(['secrets', 'refresh', 'anthropic-api-key', '--json']);
    expect(refreshed.code).toBe(0);
    expect(JSON.parse(refreshed.stdout)).toEqual({ name: 'anthropic-api-key', epoch: 3 });
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/secrets/anthropic-api-key/rotate',
      'POST /v1/secrets/anthropic-api-key/refresh',
    ]);
    expect(requests.every((r) => r.headers.authorization === `Bearer ${ADMIN_KEY}`)).toBe(true);
  });

  const event = (seq: number, name: string, extra: Record<string, unknown> = {}) => ({
    chain: `secret#${name}`,
    seq,
    type: 'secret_reveal',
    at: `2025-02-01T10:00:0${seq}.000Z`,
    actor: 'agent:main',
    agent: 'main',
    tenant: 'demo',
    sessionKey: `s-${seq}`,
    data: { secret: name, versionId: `v-${seq}`, reason: 'cold' },
    hash: 'h',
    ...extra,
  });

  it('secrets audit follows nextCursor to the end and filters to NAME by data.secret', async () => {
    localStack();
    routes['GET /v1/audit'] = (request) =>
      request.query.cursor === undefined
        ? {
            status: 200,
            body: {
              from: '2025-01-31T10:00:00.000Z',
              to: '2025-02-01T10:00:00.000Z',
              events: [event(1, 'anthropic-api-key'), event(2, 'other-key')],
              nextCursor: 'c1',
            },
          }
        : request.query.cursor === 'c1'
          ? {
              status: 200,
              body: {
                from: '2025-01-31T10:00:00.000Z',
                to: '2025-02-01T10:00:00.000Z',
                events: [event(3, 'anthropic-api-key')],
                nextCursor: 'c2',
              },
            }
          : { status: 200, body: { from: '2025-01-31T10:00:00.000Z', to: '2025-02-01T10:00:00.000Z', events: [] } };
    const { code, stdout } = await run(['secrets', 'audit', 'anthropic-api-key', '--period', '24h']);
    expect(code).toBe(0);
    expect(requests.map((r) => r.query)).toEqual([
      { type: 'secret_reveal', period: '24h', limit: '200' },
      { type: 'secret_reveal', period: '24h', limit: '200', cursor: 'c1' },
      { type: 'secret_reveal', period: '24h', limit: '200', cursor: 'c2' },
    ]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AT\s+TYPE\s+SECRET\s+AGENT\s+SESSION KEY\s+VERSION\s+REASON$/);
    expect(lines.slice(1)).toHaveLength(2);
    expect(lines[1]).toMatch(
      /^2025-02-01T10:00:01.000Z\s+secret_reveal\s+anthropic-api-key\s+main\s+s-1\s+v-1\s+cold$/,
    );
    expect(lines[2]).toMatch(
      /^2025-02-01T10:00:03.000Z\s+secret_reveal\s+anthropic-api-key\s+main\s+s-3\s+v-3\s+cold$/,
    );
    expect(stdout).not.toContain('other-key');

    requests = [];
    const json = await run(['secrets', 'audit', '--json']);
    expect(JSON.parse(json.stdout).events.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
  });

  it('secrets audit: --since and --type are passed on, --type all drops the filter, an empty window says so', async () => {
    localStack();
    routes['GET /v1/audit'] = () => ({
      status: 200,
      body: { from: '2025-02-01T00:00:00.000Z', to: '2025-02-01T10:00:00.000Z', events: [] },
    });
    const since = await run(['secrets', 'audit', '--since', '2025-02-01T00:00:00Z', '--type', 'secret_denied']);
    expect(since.code).toBe(0);
    expect(requests[0]!.query).toEqual({ type: 'secret_denied', since: '2025-02-01T00:00:00Z', limit: '200' });
    expect(since.stdout).toBe('no secret_denied events from 2025-02-01T00:00:00.000Z to 2025-02-01T10:00:00.000Z\n');
    const all = await run(['secrets', 'audit', '--type', 'all']);
    expect(all.code).toBe(0);
    expect(requests[1]!.query).toEqual({ period: '24h', limit: '200' });
  });

  it('status --agents: GET /v1/agents with a tenant key, threads and turns against the limits', async () => {
    localStack();
    const limits = { maxActiveThreads: 100, maxConcurrentTurns: 50 };
    routes['GET /v1/agents'] = () => ({
      status: 200,
      body: {
        agents: [
          {
            name: 'main',
            mode: 'thread-bound',
            models: ['offline'],
            limits,
            activeThreads: 25,
            runningTurns: 5,
            timedOutTurns: 0,
            utilisation: { threads: 0.25, turns: 0.1 },
          },
          {
            name: 'data',
            mode: 'thread-bound',
            models: ['offline'],
            limits,
            activeThreads: 0,
            runningTurns: 0,
            timedOutTurns: 0,
            utilisation: { threads: 0, turns: 0 },
          },
        ],
        deployment: { activeThreads: 25, maxThreads: 100, utilisation: 0.25 },
      },
    });
    const { code, stdout } = await run(['status', '--agents']);
    expect(code).toBe(0);
    expect(requests[0]!.path).toBe('/v1/agents');
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${TENANT_KEY}`);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AGENT\s+THREADS\s+TURNS\s+THREAD USE\s+TURN USE$/);
    expect(lines[1]).toMatch(/^main\s+25\/100\s+5\/50\s+25%\s+10%$/);
    expect(lines[2]).toMatch(/^data\s+0\/100\s+0\/50\s+0%\s+0%$/);
    expect(stdout).toContain('deployment: 25/100 threads (25%)');
    const json = await run(['status', '--agents', '--json']);
    expect(JSON.parse(json.stdout).deployment.maxThreads).toBe(100);
  });

  it('an API error prints `threadbound: <code>: <message>` on stderr and exits 1', async () => {
    localStack();
    routes['GET /v1/secrets/nope'] = () => ({
      status: 404,
      body: {
        error: { code: 'unknown_secret', message: 'no secret "nope" is configured', details: { secret: 'nope' } },
      },
    });
    const { code, stdout, stderr } = await run(['secrets', 'status', 'nope']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('threadbound: unknown_secret: no secret "nope" is configured\n  details: {"secret":"nope"}\n');
  });

  it('an error answer without the error shape (a proxy, a gateway) still gives a code', async () => {
    localStack();
    routes['POST /v1/secrets/x/rotate'] = () => ({ status: 502, body: 'upstream down' });
    const { code, stderr } = await run(['secrets', 'rotate', 'x']);
    expect(code).toBe(1);
    expect(stderr).toBe('threadbound: http_502: POST /v1/secrets/x/rotate answered 502 Bad Gateway\n');
  });

  it('never prints the key, even when an answer echoes it', async () => {
    localStack();
    routes['GET /v1/secrets'] = (request) => ({
      status: 401,
      body: { error: { code: 'unauthorized', message: `bad key ${request.headers.authorization}` } },
    });
    const { code, stderr } = await run(['secrets', 'list']);
    expect(code).toBe(1);
    expect(stderr).toBe('threadbound: unauthorized: bad key Bearer [redacted]\n');
    const explicit = await run(['secrets', 'list', '--key', 'a-key-given-on-the-command-line']);
    expect(explicit.stderr).not.toContain('a-key-given-on-the-command-line');
  });

  describe('usage errors exit 2 with the usage text', () => {
    it.each([
      [[], 'no command given', 'usage: threadbound <command>'],
      [['nope'], "unknown command 'nope'", 'usage: threadbound <command>'],
      [['secrets'], "'secrets' needs a command", 'usage: threadbound secrets <command>'],
      [['secrets', 'nope'], "unknown command 'secrets nope'", 'usage: threadbound secrets <command>'],
      [['secrets', 'status'], 'missing NAME', 'usage: threadbound secrets status NAME'],
      [['secrets', 'status', 'a', 'b'], "unexpected argument 'b'", 'usage: threadbound secrets status NAME'],
      [['secrets', 'list', '--bogus'], "Unknown option '--bogus'", 'usage: threadbound secrets list'],
      [
        ['secrets', 'audit', '--period', '1h', '--since', '2025-01-01T00:00:00Z'],
        'give --period or --since, not both',
        'usage: threadbound secrets audit [NAME] [--period 24h | --since ISO]',
      ],
      [
        ['secrets', 'audit', '--period'],
        "Option '--period <value>' argument missing",
        'usage: threadbound secrets audit',
      ],
    ])('%j', async (argv, message, usage) => {
      localStack();
      const { code, stdout, stderr } = await run(argv);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.split('\n')[0]).toBe(`threadbound: ${message}`);
      expect(stderr).toContain(usage);
      expect(requests).toHaveLength(0);
    });
  });

  it('help and --help print the usage on stdout and exit 0', async () => {
    const overall = await run(['help']);
    expect(overall.code).toBe(0);
    for (const command of [
      'secrets list',
      'secrets status NAME',
      'secrets create NAME',
      'secrets rotate NAME',
      'secrets refresh NAME',
      'secrets audit [NAME]',
      'status',
      'help [COMMAND]',
    ]) {
      expect(overall.stdout).toContain(`  ${command} `);
    }
    expect((await run(['--help'])).stdout).toBe(overall.stdout);
    const audit = await run(['secrets', 'audit', '--help']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toContain(
      'usage: threadbound secrets audit [NAME] [--period 24h | --since ISO] [--type TYPE]',
    );
    expect((await run(['help', 'secrets', 'audit'])).stdout).toBe(audit.stdout);
    expect((await run(['help', 'secrets'])).stdout).toContain('usage: threadbound secrets <command>');
    expect(requests).toHaveLength(0);
  });

  describe('connection discovery', () => {
    beforeEach(() => {
      routes['GET /v1/secrets'] = () => ({ status: 200, body: { secrets: [] } });
    });

    it('THREADBOUND_URL and THREADBOUND_API_KEY win over the local stack; --url and --key over them', async () => {
      localStack();
      const byEnv = await run(['secrets', 'list'], {
        THREADBOUND_URL: `${url}/`,
        THREADBOUND_API_KEY: 'env-key-0123456789',
      });
      expect(byEnv.code).toBe(0);
      expect(requests[0]!.headers.authorization).toBe('Bearer env-key-0123456789');
      expect(requests[0]!.path).toBe('/v1/secrets');
      const byFlag = await run(['--url', url, 'secrets', 'list', '--key=flag-key-0123456789'], {
        THREADBOUND_URL: 'http://127.0.0.1:9',
        THREADBOUND_API_KEY: 'env-key-0123456789',
      });
      expect(byFlag.code).toBe(0);
      expect(requests[1]!.headers.authorization).toBe('Bearer flag-key-0123456789');
    });

    it('THREADBOUND_DATA_DIR says where local.json and keys.json are', async () => {
      const dataDir = localStack(join(dir, 'elsewhere'));
      const { code } = await run(['secrets', 'list'], { THREADBOUND_DATA_DIR: dataDir });
      expect(code).toBe(0);
      expect(requests[0]!.headers.authorization).toBe(`Bearer ${ADMIN_KEY}`);
    });

    it('THREADBOUND_LOCAL_KEYS is used like keys.json', async () => {
      const { code } = await run(['secrets', 'list'], {
        THREADBOUND_URL: url,
        THREADBOUND_LOCAL_KEYS: 'tenantkey0123456789:demo,adminkey0123456789:ops:admin',
      });
      expect(code).toBe(0);
      expect(requests[0]!.headers.authorization).toBe('Bearer adminkey0123456789');
    });

    it('no URL anywhere: says which flag or variable to set', async () => {
      const { code, stderr } = await run(['secrets', 'list']);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^threadbound: no_api_url: no API URL: pass --url URL or set THREADBOUND_URL /);
      expect(stderr).toContain(join(dir, '.threadbound', 'local.json'));
    });

    it('no key anywhere: says which flag or variable to set', async () => {
      const { code, stderr } = await run(['secrets', 'list'], { THREADBOUND_URL: url });
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /^threadbound: no_api_key: no API key: pass --key KEY or set THREADBOUND_API_KEY \(an admin key\)/,
      );
    });

    it('a keys.json without an admin key is not enough for an admin command', async () => {
      const dataDir = localStack();
      writeFileSync(join(dataDir, 'keys.json'), JSON.stringify([{ key: TENANT_KEY, tenant: 'demo', admin: false }]));
      const { code, stderr } = await run(['secrets', 'list']);
      expect(code).toBe(1);
      expect(stderr).toContain('has no admin key');
    });

    it('local keys are never sent to a URL that is not a loopback one', async () => {
      localStack();
      const { code, stderr } = await run(['secrets', 'list', '--url', 'https://api.example.invalid']);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^threadbound: no_api_key: .*local keys are used only for a local stack URL/);
    });

    it('a stale local.json: the API cannot be reached', async () => {
      const dataDir = localStack();
      const closed = createServer();
      await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
      const port = (closed.address() as { port: number }).port;
      await new Promise((done) => closed.close(done));
      writeFileSync(join(dataDir, 'local.json'), JSON.stringify({ url: `http://127.0.0.1:${port}` }));
      const { code, stderr } = await run(['secrets', 'list']);
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /^threadbound: unreachable: cannot reach http:\/\/127\.0\.0\.1:\d+ from .*local\.json: ECONNREFUSED \(is `npm start` still running\?/,
      );
    });
  });
});
