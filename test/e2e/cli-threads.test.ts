import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInMemory } from '../support/cli.js';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/local-stack.js';

// The threads and agents commands as an operator runs them: runCli in-process (an in-memory io)
// against the real local stack over HTTP, with the shipped config: main fans out to data and
// analysis, trading merges, all on the offline provider. The connection comes from the environment
// the way a developer's shell has it: THREADBOUND_URL and the local stack's keys (tenant key for
// tenant commands, admin key for `agents restart`).

let stack: TestStack;
let env: Record<string, string>;
beforeAll(async () => {
  stack = await startTestStack();
  env = {
    THREADBOUND_URL: stack.url,
    THREADBOUND_LOCAL_KEYS: `${TEST_KEYS.tenantA}:tenant-a,${TEST_KEYS.admin}:ops:admin`,
  };
});
afterAll(async () => stack?.stop());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(argv: string[], options: { stdin?: string; tty?: boolean } = {}): Promise<Run> {
  const { code, stdout, stderr } = await runCliInMemory(argv, {
    stdin: options.stdin,
    stderrTty: options.tty,
    env,
    cwd: process.cwd(),
  });
  for (const text of [stdout, stderr]) for (const key of Object.values(TEST_KEYS)) expect(text).not.toContain(key);
  return { code, stdout, stderr };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('threadbound threads / agents against the local stack', () => {
  it('spawn → send (fan-out) → show → list → agents status → agents restart → terminate → show: not found', {
    timeout: 120_000,
  }, async () => {
    const spawned = await cli(['threads', 'spawn', '--agent', 'main', '--metadata', '{"user":"ann"}']);
    expect(spawned).toMatchObject({ code: 0, stderr: '' });
    const sk = spawned.stdout.split('\n')[0]!;
    expect(sk).toMatch(/^s-[0-9a-z]{26}$/);
    expect(spawned.stdout).toMatch(/^agent\s+main$/m);
    expect(spawned.stdout).toMatch(/^metadata\s+user=ann$/m);

    // send: the one merged reply on stdout; not a terminal, so one "waiting…" line on stderr.
    const sent = await cli(['threads', 'send', sk, 'analyse the BTC price trend']);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^\[offline trading\] Combined answer to "analyse the BTC price trend":/);
    expect(sent.stdout).toMatch(/- data: \[offline data\] Collected 30 daily closes/);
    expect(sent.stdout).toMatch(/- analysis: \[offline analysis\] Trend for/);
    const waiting = sent.stderr.split('\n').filter((line) => line.startsWith('waiting for turn'));
    expect(waiting).toHaveLength(1);
    expect(sent.stderr).not.toContain('\r');
    expect(sent.stderr).toMatch(
      /turn turn_\S+ succeeded in .*; sub-agents: (data|analysis) succeeded, (data|analysis) succeeded/,
    );

    // show: the thread, its two messages, the turn with the child threads and their statuses.
    const shown = await cli(['threads', 'show', sk]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^status\s+active$/m);
    expect(shown.stdout).toMatch(/^turns\s+1$/m);
    expect(shown.stdout).toMatch(/^\s+1\s+user\s+\S+\s+analyse the BTC price trend$/m);
    expect(shown.stdout).toMatch(/^\s+2\s+assistant\s+\S+\s+\[offline trading\] Combined answer/m);
    expect(shown.stdout).toMatch(/^status\s+succeeded$/m);
    expect(shown.stdout).toMatch(/^reply:\n {2}\[offline trading\] Combined answer/m);
    for (const agent of ['data', 'analysis']) {
      expect(shown.stdout).toMatch(
        new RegExp(`^${agent}\\s+${escapeRegExp(sk)}:${agent}\\s+succeeded\\s+\\d+(\\.\\d)? m?s\\s+active$`, 'm'),
      );
    }
    const asJson = await cli(['threads', 'show', sk, '--json']);
    const view = JSON.parse(asJson.stdout);
    expect(view.thread).toMatchObject({ sessionKey: sk, agent: 'main', turnCount: 1 });
    expect(view.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(view.turn.subAgents.map((s: { sessionKey: string }) => s.sessionKey).sort()).toEqual([
      `${sk}:analysis`,
      `${sk}:data`,
    ]);
    if (view.turn.trace) {
      // The server records how the turn ran: the models tried (offline answered), per phase.
      expect(shown.stdout).toMatch(/^models tried:$/m);
      expect(shown.stdout).toMatch(/^main\s+main\s+offline\s+answered/m);
    } else {
      expect(shown.stdout).toContain('trace: none recorded for this turn');
    }
    // A child thread shows like any other, with its lineage.
    const child = await cli(['threads', 'show', `${sk}:data`]);
    expect(child.code).toBe(0);
    expect(child.stdout).toMatch(new RegExp(`^parent\\s+${escapeRegExp(sk)} \\(turn turn_\\S+, depth 1\\)$`, 'm'));

    const listed = await cli(['threads', 'list', '--agent', 'main']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^SESSION KEY\s+AGENT\s+STATUS\s+TURNS\s+LAST ACTIVE$/);
    expect(listed.stdout).toMatch(new RegExp(`^${escapeRegExp(sk)}\\s+main\\s+active\\s+1\\s+\\S+$`, 'm'));
    const listedJson = JSON.parse((await cli(['threads', 'list', '--json', '--limit', '5'])).stdout);
    expect(listedJson.threads.map((t: { sessionKey: string }) => t.sessionKey)).toEqual(
      expect.arrayContaining([sk, `${sk}:data`, `${sk}:analysis`]),
    );

    const agents = await cli(['agents', 'status']);
    expect(agents.code).toBe(0);
    expect(agents.stdout).toMatch(/^main\s+1\/100\s+0\/50\s+1%\s+0%$/m);
    expect(agents.stdout).toMatch(/^data\s+1\/100\s+0\/50\s+1%\s+0%$/m);
    expect((await cli(['status', '--agents'])).stdout).toBe(agents.stdout); // one implementation
    expect(
      JSON.parse((await cli(['agents', 'status', '--json'])).stdout).agents.find(
        (a: { name: string }) => a.name === 'main',
      ),
    ).toMatchObject({ activeThreads: 1, runningTurns: 0 });

    // Nothing is stuck: the restart (with the admin key from the local keys) changes nothing.
    const restarted = await cli(['agents', 'restart', 'main']);
    expect(restarted.code).toBe(0);
    expect(restarted.stdout).toMatch(/^leases released\s+0$/m);
    expect(restarted.stdout).toMatch(/^complete\s+yes$/m);
    const unknown = await cli(['agents', 'restart', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('threadbound: agent_not_found: no agent "nobody" is configured');

    const terminated = await cli(['threads', 'terminate', sk]);
    expect(terminated).toMatchObject({
      code: 0,
      stdout: `terminated ${sk} (destroyed: its items are deleted, its audit trail stays)\n`,
    });
    const gone = await cli(['threads', 'show', sk]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toMatch(/^threadbound: thread_not_found: /);
    expect((await stack.agentCounters()).main).toMatchObject({ activeThreads: 0, runningTurns: 0 });
  });

  it('shows a spinner with the elapsed time on a terminal, erased before the reply; none with --json, whose outputs parse', {
    timeout: 120_000,
  }, async () => {
    // A thread of data (no sub-agents): quick turns.
    const spawned = JSON.parse((await cli(['threads', 'spawn', '--agent', 'data', '--json'])).stdout);
    const sk: string = spawned.sessionKey;

    // The message from stdin ("-"), stderr a terminal.
    const sent = await cli(['threads', 'send', sk, '-'], { stdin: 'what is the weather\n', tty: true });
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^\[offline data\] /);
    expect(sent.stdout).not.toContain('\r');
    expect(sent.stdout).not.toContain('waiting');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the spinner's terminal escape is what is asserted
    expect(sent.stderr).toMatch(/\r\x1b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] waiting for turn turn_\S+ \((running|queued)\) \d+\.\ds/);
    // The last frame is erased before the summary line.
    const summary = sent.stderr.lastIndexOf('turn turn_');
    expect(sent.stderr.slice(0, summary).endsWith('\r\x1b[2K')).toBe(true);
    expect(sent.stderr).not.toMatch(/^waiting for turn/m); // the non-terminal line is not printed

    const quiet = await cli(['threads', 'send', sk, 'and now?', '--json'], { tty: true });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(JSON.parse(quiet.stdout)).toMatchObject({ sessionKey: sk, status: 'succeeded', input: 'and now?' });

    const accepted = await cli(['threads', 'send', sk, 'later', '--no-wait']);
    expect(accepted.code).toBe(0);
    expect(accepted.stderr).toBe('');
    const turnId = accepted.stdout.trim();
    expect(turnId).toMatch(/^turn_[0-9a-zA-Z]{26}$/);
    await stack.finalTurn(sk, turnId);
    const turn = JSON.parse((await cli(['threads', 'show', sk, '--turn', turnId, '--json'])).stdout).turn;
    expect(turn).toMatchObject({ turnId, status: 'succeeded', input: 'later' });

    // The same idempotency key twice: one turn.
    const first = JSON.parse(
      (await cli(['threads', 'send', sk, 'once', '--idempotency-key', 'k-1', '--no-wait', '--json'])).stdout,
    );
    const second = JSON.parse(
      (await cli(['threads', 'send', sk, 'once', '--idempotency-key', 'k-1', '--no-wait', '--json'])).stdout,
    );
    expect(second).toMatchObject({ turnId: first.turnId, created: false });
    await stack.finalTurn(sk, first.turnId);

    const restarted = JSON.parse((await cli(['threads', 'restart', sk, '--clear-memory', '--json'])).stdout);
    expect(restarted).toMatchObject({ sessionKey: sk, generation: 2 });
    const history = JSON.parse((await cli(['threads', 'show', sk, '--json'])).stdout);
    expect(history.messages).toEqual([]);
    const report = JSON.parse((await cli(['agents', 'restart', 'data', '--force', '--json'])).stdout);
    expect(report).toMatchObject({ agent: 'data', force: true, leasesReleased: 0, complete: true });
    expect(JSON.parse((await cli(['threads', 'terminate', sk, '--json'])).stdout)).toMatchObject({
      sessionKey: sk,
      status: 'terminated',
      destroyed: false,
    });
  });
});
