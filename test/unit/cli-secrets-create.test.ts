import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/main.js';
import { runCliInMemory } from '../support/cli.js';

// `threadbound secrets create` against a fake Secrets Manager: a loopback server speaking the JSON
// protocol (x-amz-target, `__type` + x-amzn-ErrorType errors) for CreateSecret and PutSecretValue.

const VALUE = 'sk-test-VALUE-must-never-be-printed-0123456789';
const ID = 'threadbound/anthropic-api-key';
const ARN_SOURCE = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:imported-key-AbCdEf';

interface Call {
  operation: string;
  body: Record<string, unknown>;
  authorization: string;
}

let server: Server;
let endpoint: string;
let calls: Call[] = [];
/** Secret id → its versions (id → stages). */
let secrets = new Map<string, Map<string, string[]>>();
let dir: string;
let configFile: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target']).replace(/^secretsmanager\./, '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      calls.push({ operation, body, authorization: String(req.headers.authorization) });
      const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...headers });
        res.end(JSON.stringify(payload));
      };
      const fail = (type: string, message: string) =>
        reply(400, { __type: type, message }, { 'x-amzn-errortype': type });
      const versionId = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : randomUUID();
      if (operation === 'CreateSecret') {
        const name = body.Name as string;
        if (secrets.has(name))
          return fail('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
        secrets.set(name, new Map([[versionId, ['AWSCURRENT']]]));
        return reply(200, {
          ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-AbCdEf`,
          Name: name,
          VersionId: versionId,
        });
      }
      if (operation === 'PutSecretValue') {
        const id = body.SecretId as string;
        const versions = secrets.get(id);
        if (!versions) return fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        const stages = (body.VersionStages as string[] | undefined) ?? ['AWSCURRENT'];
        for (const [other, labels] of versions)
          versions.set(
            other,
            labels.filter((label) => !stages.includes(label)),
          );
        versions.set(versionId, stages);
        return reply(200, { ARN: `arn:${id}`, Name: id, VersionId: versionId, VersionStages: stages });
      }
      return fail('UnknownOperationException', `not supported: ${operation}`);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
});

beforeEach(() => {
  calls = [];
  secrets = new Map();
  dir = mkdtempSync(join(tmpdir(), 'tb-cli-create-'));
  // The shipped config, plus a secret imported by ARN.
  const config = JSON.parse(readFileSync(new URL('../../threadbound.config.json', import.meta.url), 'utf8')) as {
    secrets: Record<string, unknown>;
  };
  config.secrets['imported-key'] = { source: ARN_SOURCE };
  configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A running local stack's local.json pointing at the fake Secrets Manager. */
function localStack(): void {
  mkdirSync(join(dir, '.threadbound'), { recursive: true });
  writeFileSync(
    join(dir, '.threadbound', 'local.json'),
    JSON.stringify({ url: 'http://127.0.0.1:1', secretsManagerEndpoint: endpoint }),
  );
}

function pipe(text: string): CliIo['stdin'] {
  return Readable.from([Buffer.from(text, 'utf8')]);
}

function terminal(): CliIo['stdin'] {
  return Object.assign(Readable.from([]), { isTTY: true });
}

async function run(
  argv: string[],
  options: { stdin?: CliIo['stdin']; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runCliInMemory(argv, {
    stdin: options.stdin ?? pipe(''),
    env: { THREADBOUND_CONFIG: configFile, ...options.env },
    cwd: dir,
  });
  expect(stdout).not.toContain(VALUE);
  expect(stderr).not.toContain(VALUE);
  expect(stdout + stderr).not.toContain('sk-test');
  return { code, stdout, stderr };
}

describe('threadbound secrets create', () => {
  it('creates the secret named by the config from stdin (one trailing newline dropped), then puts a new AWSCURRENT', async () => {
    localStack();
    const created = await run(['secrets', 'create', 'anthropic-api-key'], { stdin: pipe(`${VALUE}\n`) });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.operation).toBe('CreateSecret');
    expect(calls[0]!.body.Name).toBe(ID);
    expect(calls[0]!.body.SecretString).toBe(VALUE);
    // The local stack's dummy credentials and region.
    expect(calls[0]!.authorization).toContain('Credential=local/');
    expect(calls[0]!.authorization).toContain('/us-east-1/secretsmanager/');
    const first = [...secrets.get(ID)!.keys()][0]!;
    expect(created.stdout).toBe(`created anthropic-api-key version ${first} (AWSCURRENT)\n`);

    const updated = await run(['secrets', 'create', 'anthropic-api-key'], { stdin: pipe(`${VALUE}-2\r\n`) });
    expect(updated.code).toBe(0);
    expect(calls.map((c) => c.operation)).toEqual(['CreateSecret', 'CreateSecret', 'PutSecretValue']);
    expect(calls[2]!.body).toMatchObject({ SecretId: ID, SecretString: `${VALUE}-2` });
    expect(calls[2]!.body.VersionStages).toBeUndefined();
    const second = [...secrets.get(ID)!.entries()].find(([, stages]) => stages.includes('AWSCURRENT'))![0];
    expect(second).not.toBe(first);
    expect(updated.stdout).toBe(`updated anthropic-api-key version ${second} (AWSCURRENT)\n`);
  });

  it('--file reads the value from a file; --json prints what was done, never the value', async () => {
    localStack();
    writeFileSync(join(dir, 'key.txt'), `${VALUE}\n\n`);
    const { code, stdout } = await run(['secrets', 'create', 'anthropic-api-key', '--file', 'key.txt', '--json']);
    expect(code).toBe(0);
    // Only one trailing newline is dropped.
    expect(calls[0]!.body.SecretString).toBe(`${VALUE}\n`);
    expect(JSON.parse(stdout)).toEqual({
      action: 'created',
      name: 'anthropic-api-key',
      secretId: ID,
      versionId: expect.any(String),
      stages: ['AWSCURRENT'],
    });
  });

  it('--pending puts the value as AWSPENDING only (a staged rotation)', async () => {
    localStack();
    await run(['secrets', 'create', 'anthropic-api-key'], { stdin: pipe(VALUE) });
    const { code, stdout } = await run(['secrets', 'create', 'anthropic-api-key', '--pending'], {
      stdin: pipe(`${VALUE}-new`),
    });
    expect(code).toBe(0);
    expect(calls.map((c) => c.operation)).toEqual(['CreateSecret', 'PutSecretValue']);
    expect(calls[1]!.body).toMatchObject({ SecretId: ID, SecretString: `${VALUE}-new`, VersionStages: ['AWSPENDING'] });
    expect(stdout).toMatch(/^updated anthropic-api-key version \S+ \(AWSPENDING\)\n$/);
    expect([...secrets.get(ID)!.values()]).toEqual([['AWSCURRENT'], ['AWSPENDING']]);
  });

  it('--pending on a secret that does not exist yet says to create it first', async () => {
    localStack();
    const { code, stdout, stderr } = await run(['secrets', 'create', 'anthropic-api-key', '--pending'], {
      stdin: pipe(VALUE),
    });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^threadbound: secret_not_found: secret threadbound\/anthropic-api-key does not exist .*create it first \(without --pending\)/,
    );
  });

  it('a secret imported by ARN is never created, only given a new version', async () => {
    localStack();
    secrets.set(ARN_SOURCE, new Map([['v0', ['AWSCURRENT']]]));
    const { code, stdout } = await run(['secrets', 'create', 'imported-key'], { stdin: pipe(VALUE) });
    expect(code).toBe(0);
    expect(calls.map((c) => [c.operation, c.body.SecretId])).toEqual([['PutSecretValue', ARN_SOURCE]]);
    expect(stdout).toMatch(/^updated imported-key version \S+ \(AWSCURRENT\)\n$/);
  });

  it("AWS_ENDPOINT_URL_SECRETS_MANAGER is used with the environment's region and credentials; its errors come out as `threadbound: <type>: <message>`", async () => {
    const { code, stderr } = await run(['secrets', 'create', 'anthropic-api-key'], {
      stdin: pipe(VALUE),
      env: {
        AWS_ENDPOINT_URL_SECRETS_MANAGER: `${endpoint}/`,
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'secret-example',
      },
    });
    // Through AWS_ENDPOINT_URL_SECRETS_MANAGER with the environment's region and credentials; the fake takes it.
    expect(code).toBe(0);
    expect(calls[0]!.authorization).toContain('Credential=AKIDEXAMPLE/');
    expect(calls[0]!.authorization).toContain('/eu-west-1/secretsmanager/');
    expect(stderr).toBe('');

    localStack();
    calls = [];
    const scheduled = createServer((_, res) => {
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-errortype': 'InvalidRequestException',
      });
      res.end(JSON.stringify({ __type: 'InvalidRequestException', message: 'the secret is scheduled for deletion' }));
    });
    await new Promise<void>((done) => scheduled.listen(0, '127.0.0.1', done));
    try {
      const failed = await run(['secrets', 'create', 'anthropic-api-key'], {
        stdin: pipe(VALUE),
        env: {
          AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(scheduled.address() as { port: number }).port}`,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'a',
          AWS_SECRET_ACCESS_KEY: 'b',
        },
      });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toBe('threadbound: InvalidRequestException: the secret is scheduled for deletion\n');
    } finally {
      await new Promise((done) => scheduled.close(done));
    }
  });

  it('refuses a value on the command line, without echoing it, before touching anything', async () => {
    localStack();
    for (const argv of [
      ['secrets', 'create', 'anthropic-api-key', VALUE],
      ['secrets', 'create', 'anthropic-api-key', '--value', VALUE],
      ['secrets', 'create', 'anthropic-api-key', `--value=${VALUE}`],
      ['secrets', 'create', 'anthropic-api-key', '--secret-string', VALUE],
      ['secrets', 'create', 'anthropic-api-key', '--', VALUE],
    ]) {
      const { code, stdout, stderr } = await run(argv, { stdin: pipe(VALUE) });
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain('never taken from the command line');
      expect(stderr).toContain('usage: threadbound secrets create NAME [--file PATH] [--pending] [--aws]');
    }
    expect(calls).toHaveLength(0);
  });

  it('refuses a terminal on stdin: pipe it in', async () => {
    localStack();
    const { code, stderr } = await run(['secrets', 'create', 'anthropic-api-key'], { stdin: terminal() });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^threadbound: stdin_is_a_terminal: .*pipe it in/);
    expect(calls).toHaveLength(0);
  });

  it('an empty value, an unreadable file and an unknown NAME fail before anything is stored', async () => {
    localStack();
    const empty = await run(['secrets', 'create', 'anthropic-api-key'], { stdin: pipe('\n') });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('threadbound: no_value: the secret value from stdin is empty\n');
    const noFile = await run(['secrets', 'create', 'anthropic-api-key', '--file', 'nope.txt']);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toBe(`threadbound: no_value: cannot read --file ${join(dir, 'nope.txt')}: ENOENT\n`);
    // The "name" may be a value typed in the wrong place: it is not echoed.
    const unknown = await run(['secrets', 'create', 'sk-test-typed-as-the-name'], { stdin: pipe(VALUE) });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      `threadbound: unknown_secret: NAME must be a secret of ${configFile} (configured: anthropic-api-key, imported-key); the value itself comes on stdin or from --file\n`,
    );
    expect(calls).toHaveLength(0);
  });

  it('a stopped local stack (stale local.json): says so, and --aws skips it', async () => {
    mkdirSync(join(dir, '.threadbound'), { recursive: true });
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as { port: number }).port;
    await new Promise((done) => closed.close(done));
    writeFileSync(
      join(dir, '.threadbound', 'local.json'),
      JSON.stringify({ url: 'http://127.0.0.1:1', secretsManagerEndpoint: `http://127.0.0.1:${port}` }),
    );
    const { code, stderr } = await run(['secrets', 'create', 'anthropic-api-key'], { stdin: pipe(VALUE) });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^threadbound: unreachable: cannot reach the local stack's Secrets Manager .*\(ECONNREFUSED\): is `npm start` still running\? \(pass --aws for AWS\)/,
    );
  });
});
