import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local.js';
import { eventuallyEmpty, processesMatching, processGroupMembers, spawnCollected } from '../support/processes.js';

// The local stack as a user runs it: a separate process, real DynamoDB Local persisted on disk.
const ROOT = process.cwd();
const startEnv = (dataDir: string, port: number, extra: NodeJS.ProcessEnv = {}) => ({
  ...process.env,
  PORT: String(port),
  THREADBOUND_DATA_DIR: dataDir,
  THREADBOUND_CONFIG: join(ROOT, 'threadbound.config.json'),
  ...extra,
});

describe('npm start', () => {
  it('serves the API, stops everything on Ctrl-C and SIGTERM, and keeps threads across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tb-start-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;

    // First start through npm, stopped the way a terminal's Ctrl-C does: SIGINT to the whole job.
    const first = spawnCollected('npm', ['start', '--silent'], { cwd: ROOT, env: startEnv(dataDir, port) });
    await first.waitFor(new RegExp(`threadbound listening on ${url}\\n`));
    const [, key] = (await first.waitFor(/tenant demo\s+(tb_\S+)/)) as unknown as [string, string];
    const spawned = await fetch(`${url}/v1/threads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'data', sessionKey: 'survivor' }),
    });
    expect(spawned.status).toBe(201);
    process.kill(-first.child.pid!, 'SIGINT');
    await first.exit; // npm itself dies of the SIGINT; what matters is that nothing of the job survives
    await first.waitFor(/SIGINT received, stopping/);
    expect(await eventuallyEmpty(() => processGroupMembers(first.child.pid!))).toEqual([]);
    expect(processesMatching(dataDir)).toEqual([]);

    // Second start, stopped with SIGTERM to the server process alone: the same keys, the same thread.
    const second = spawnCollected(process.execPath, ['--import', 'tsx', 'infra/local/main.ts'], {
      cwd: ROOT,
      env: startEnv(dataDir, port),
    });
    await second.waitFor(/threadbound listening on/);
    expect(second.output()).toContain(key);
    const again = await fetch(`${url}/v1/threads/survivor`, { headers: { authorization: `Bearer ${key}` } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ sessionKey: 'survivor', agent: 'data', status: 'active' });
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    // Only the server got the signal: it must have stopped its own java before exiting.
    expect(processesMatching(dataDir)).toEqual([]);
  });

  it('says how to install Java when it is missing', async () => {
    // A PATH with node on it and nothing else.
    const bin = mkdtempSync(join(tmpdir(), 'tb-nojava-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const run = spawnCollected(process.execPath, ['--import', 'tsx', 'infra/local/main.ts'], {
      cwd: ROOT,
      env: startEnv(mkdtempSync(join(tmpdir(), 'tb-data-')), await freePort(), { PATH: bin }),
    });
    expect(await run.exit).toBe(1);
    expect(run.output()).toMatch(
      /java was not found\. DynamoDB Local needs Java 17 or newer.*apt-get install -y openjdk-17-jre-headless/,
    );
  });

  it('fails fast on a bad config with the JSON path and the reason, starting nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-badconfig-'));
    const file = join(dir, 'bad.json');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      file,
      JSON.stringify({
        threadManagement: { maxThreads: 10 },
        agents: {
          main: {
            models: ['offline'],
            maxActiveThreads: 5,
            maxConcurrentTurns: 1,
            timeout: 'soon',
            memory: { maxTurns: 1, maxAge: '1h', maxBytes: 10 },
          },
        },
      }),
    );
    const run = spawnCollected(process.execPath, ['--import', 'tsx', 'infra/local/main.ts'], {
      cwd: ROOT,
      env: startEnv(join(dir, 'data'), await freePort(), { THREADBOUND_CONFIG: file }),
    });
    expect(await run.exit).toBe(1);
    expect(run.output()).toContain('agents.main.timeout: must be a duration');
    expect(processesMatching(dir)).toEqual([]);
  });
});
