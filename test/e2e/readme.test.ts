import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local.js';
import { spawnCollected } from '../support/processes.js';

/** The curl session of the README, exactly as printed there. */
function readmeSession(): string {
  const match = /```bash readme-session\n([\s\S]*?)```/.exec(readFileSync('README.md', 'utf8'));
  if (!match) throw new Error('README.md has no ```bash readme-session block');
  return match[1]!;
}

describe('README', () => {
  it('starts with the two commands', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
    expect(readFileSync('.ci/run', 'utf8')).toContain('npm ci && npm test');
  });

  it('runs its curl session as printed against a running stack', async () => {
    // The session reads ./.threadbound/keys.json, so run it from a directory holding that data dir.
    const cwd = mkdtempSync(join(tmpdir(), 'tb-readme-'));
    const port = await freePort();
    const server = spawnCollected(process.execPath, ['--import', 'tsx', join(process.cwd(), 'infra/local/main.ts')], {
      cwd: process.cwd(),
      env: { ...process.env, PORT: String(port), THREADBOUND_DATA_DIR: join(cwd, '.threadbound') },
    });
    try {
      await server.waitFor(/threadbound listening on/);
      const run = spawnSync('bash', ['-euo', 'pipefail', '-c', readmeSession()], {
        cwd,
        env: { ...process.env, TB: `http://127.0.0.1:${port}` },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^spawned s-[0-9a-z]{26}$/);
      const sessionKey = lines[0]!.slice('spawned '.length);
      expect(JSON.parse(lines[1]!)).toMatchObject({
        sessionKey,
        agent: 'main',
        status: 'active',
        metadata: { user: 'ann' },
      });
      const turn = JSON.parse(lines[2]!);
      expect(turn).toMatchObject({
        status: 'succeeded',
        reply: expect.stringContaining('[offline trading] Combined answer'),
      });
      expect(turn.subAgents.map((s: { sessionKey: string }) => s.sessionKey).sort()).toEqual([
        `${sessionKey}:analysis`,
        `${sessionKey}:data`,
      ]);
      expect(JSON.parse(lines[3]!).messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
      expect(JSON.parse(lines[4]!).threads.map((t: { sessionKey: string }) => t.sessionKey)).toEqual([sessionKey]);
      expect(JSON.parse(lines[5]!).agents.find((a: { name: string }) => a.name === 'main')).toMatchObject({
        activeThreads: 1,
        runningTurns: 0,
      });
      expect(JSON.parse(lines[6]!)).toEqual({
        sessionKey,
        status: 'terminated',
        destroyed: true,
        alreadyTerminated: false,
      });
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  });
});
