import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatElapsed, startProgress } from '../../cli/progress.js';
import { renderTurn, turnPhases } from '../../cli/threads/render.js';
import type { TurnView } from '../../lib/turns/view.js';
import { runCliInMemory } from '../support/cli.js';

// The threads commands' parsing, paging and rendering, in-process against a loopback server that
// answers canned JSON in the API's shapes (the whole flow against the real stack: test/e2e/cli-threads.test.ts).

const KEY = 'tb_unit_threads_0123456789abcdef';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}
type Route = (request: Recorded) => { status: number; body: unknown };

let server: Server;
let url: string;
let requests: Recorded[] = [];
let routes: Record<string, Route> = {};

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const parsed = new URL(req.url ?? '/', 'http://x');
      const request: Recorded = {
        method: req.method ?? '',
        path: parsed.pathname,
        query: Object.fromEntries(parsed.searchParams),
        body: raw ? JSON.parse(raw) : undefined,
      };
      requests.push(request);
      const route = routes[`${request.method} ${request.path}`];
      const reply = route
        ? route(request)
        : {
            status: 404,
            body: { error: { code: 'route_not_found', message: `no route ${request.method} ${request.path}` } },
          };
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => new Promise((done) => server.close(done)));
beforeEach(() => {
  requests = [];
  routes = {};
});
afterEach(() => vi.useRealTimers());

async function run(
  argv: string[],
  options: { stdin?: string; stdinTty?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runCliInMemory(argv, {
    stdin: options.stdin,
    stdinTty: options.stdinTty,
    env: { THREADBOUND_URL: url, THREADBOUND_API_KEY: KEY },
  });
  expect(stdout + stderr).not.toContain(KEY);
  return { code, stdout, stderr };
}

const thread = (sessionKey: string, extra: Record<string, unknown> = {}) => ({
  sessionKey,
  threadId: `th-${sessionKey}`,
  agent: 'main',
  mode: 'thread-bound',
  status: 'active',
  generation: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  lastActiveAt: '2026-01-01T00:05:00.000Z',
  turnCount: 2,
  metadata: {},
  ...extra,
});

const phase = (p: 'main' | 'sub' | 'coalesce', agent: string, extra: Record<string, unknown> = {}) => ({
  phase: p,
  agent,
  startedAt: '2026-01-01T00:00:01.000Z',
  durationMs: 120,
  models: [{ model: 'offline', outcome: 'answered', ms: 1 }],
  tools: [],
  secrets: [],
  ...extra,
});

const tracedTurn: TurnView = {
  turnId: 'turn_01AAAAAAAAAAAAAAAAAAAAAAAA',
  sessionKey: 's-1',
  agent: 'main',
  status: 'succeeded',
  input: 'analyse BTC',
  reply: 'merged\nsecond line',
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:02.500Z',
  subAgents: [
    {
      agent: 'data',
      sessionKey: 's-1:data',
      status: 'succeeded',
      reply: 'd',
      durationMs: 850,
      trace: phase('sub', 'data', { tools: [{ name: 'http.get', allowed: true, outcome: 'ok', ms: 40 }] }) as never,
    },
    {
      agent: 'analysis',
      sessionKey: 's-1:analysis',
      status: 'timed_out',
      error: 'no answer within 60s',
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:01:00.000Z',
    },
  ],
  trace: {
    phases: [
      phase('main', 'main', {
        models: [
          { model: 'anthropic:claude-sonnet-4-5', outcome: 'failed', status: 429, reason: 'rate limited', ms: 30 },
          { model: 'offline', outcome: 'answered', ms: 1 },
        ],
        tools: [{ name: 'http.post', allowed: false, outcome: 'denied', reason: 'denied by tools.deny' }],
        secrets: ['anthropic-api-key'],
      }),
      phase('coalesce', 'trading'),
    ],
  } as never,
};

describe('rendering a turn', () => {
  it('shows the reply, the sub-agents with child threads and durations, the models tried with the fallback reason, tool calls and secret names', () => {
    const text = renderTurn(tracedTurn, new Map([['s-1:data', 'active']]));
    expect(text).toMatch(/^ended\s+2026-01-01T00:00:02.500Z \(2.5 s\)$/m);
    expect(text).toContain('reply:\n  merged\n  second line\n');
    expect(text).toMatch(/^data\s+s-1:data\s+succeeded\s+850 ms\s+active\s+-$/m);
    expect(text).toMatch(/^analysis\s+s-1:analysis\s+timed_out\s+60.0 s\s+-\s+no answer within 60s$/m);
    expect(text).toMatch(/^main\s+main\s+anthropic:claude-sonnet-4-5\s+failed\s+429\s+30\s+rate limited$/m);
    expect(text).toMatch(/^main\s+main\s+http.post\s+no\s+denied\s+-\s+denied by tools.deny$/m);
    expect(text).toMatch(/^sub\s+data\s+http.get\s+yes\s+ok\s+40\s+-$/m);
    expect(text).toContain('secrets used (names only):\n  main (main): anthropic-api-key\n');
    // Phases in the order they ran: main, the sub-agents, the coalesce phase.
    expect(turnPhases(tracedTurn).map((p) => `${p.phase}:${p.agent}`)).toEqual([
      'main:main',
      'sub:data',
      'coalesce:trading',
    ]);
  });

  it('degrades without a trace (an older server): sub-agents from their timestamps, and says the trace is missing', () => {
    const { trace: _t, ...bare } = tracedTurn;
    const plain = { ...bare, subAgents: tracedTurn.subAgents!.map(({ trace: _s, durationMs: _d, ...sub }) => sub) };
    const text = renderTurn(plain as TurnView);
    expect(text).toMatch(/^analysis\s+s-1:analysis\s+timed_out\s+60.0 s/m);
    expect(text).toContain('trace: none recorded for this turn');
    expect(text).not.toContain('models tried');
    // A failed turn shows its error; a running one no trace note.
    expect(renderTurn({ ...plain, status: 'failed', reply: undefined, error: 'boom' } as TurnView)).toContain(
      'error:\n  boom\n',
    );
    expect(
      renderTurn({ ...plain, status: 'running', reply: undefined, subAgents: undefined } as TurnView),
    ).not.toContain('trace');
  });
});

describe('the progress indicator', () => {
  it('on a terminal: a spinner with the elapsed time redrawn in place, erased by stop', () => {
    vi.useFakeTimers();
    let clock = 0;
    let written = '';
    const progress = startProgress((t) => (written += t), { tty: true, label: 'waiting for turn t', now: () => clock });
    clock = 1_250;
    vi.advanceTimersByTime(100);
    clock = 2_400;
    vi.advanceTimersByTime(100);
    progress.stop();
    progress.stop();
    vi.advanceTimersByTime(1_000); // stopped: no more frames
    expect(written.split('\r\x1b[2K')).toEqual([
      '',
      '⠋ waiting for turn t 0.0s',
      '⠙ waiting for turn t 1.3s',
      '⠹ waiting for turn t 2.4s',
      '',
    ]);
    expect(formatElapsed(125_000)).toBe('2m05s');
  });

  it('elsewhere: one line, nothing redrawn', () => {
    vi.useFakeTimers();
    let written = '';
    const progress = startProgress((t) => (written += t), { tty: false, label: 'waiting for turn t' });
    vi.advanceTimersByTime(5_000);
    progress.stop();
    expect(written).toBe('waiting for turn t…\n');
  });
});

describe('threadbound threads', () => {
  it('send: a failed turn prints its error and exits 1 (the --json turn too); the input comes from stdin with "-"', async () => {
    routes['POST /v1/threads/s-1/turns'] = () => ({
      status: 202,
      body: { turnId: 'turn_01BBBBBBBBBBBBBBBBBBBBBBBB', status: 'running', created: true },
    });
    let polls = 0;
    routes['GET /v1/threads/s-1/turns/turn_01BBBBBBBBBBBBBBBBBBBBBBBB'] = () => {
      polls += 1;
      return {
        status: 200,
        body: {
          ...tracedTurn,
          turnId: 'turn_01BBBBBBBBBBBBBBBBBBBBBBBB',
          reply: undefined,
          status: polls < 3 ? 'running' : 'failed',
          error: 'every model failed',
        },
      };
    };
    const failed = await run(['threads', 'send', 's-1', '-'], { stdin: 'line one\nline two\n' });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toBe(
      'waiting for turn turn_01BBBBBBBBBBBBBBBBBBBBBBBB (running)…\nthreadbound: turn_failed: turn turn_01BBBBBBBBBBBBBBBBBBBBBBBB failed: every model failed\n  details: {"turnId":"turn_01BBBBBBBBBBBBBBBBBBBBBBBB"}\n',
    );
    const submit = requests.find((r) => r.method === 'POST')!;
    expect(submit.body).toMatchObject({
      input: 'line one\nline two',
      idempotencyKey: expect.stringMatching(/^cli-[0-9a-f-]{36}$/),
    });
    const polled = requests.filter((r) => r.method === 'GET');
    expect(polled).toHaveLength(3);
    for (const poll of polled) expect(poll.query).toEqual({ wait: '25' });

    polls = 3;
    const asJson = await run(['threads', 'send', 's-1', 'again', '--json']);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ status: 'failed', error: 'every model failed' });
  });

  it('send: usage errors (exit 2) for an empty message or "-" on a terminal, and nothing is sent', async () => {
    expect((await run(['threads', 'send', 's-1', '   '])).code).toBe(2);
    const tty = await run(['threads', 'send', 's-1', '-'], { stdinTty: true });
    expect(tty.code).toBe(2);
    expect(tty.stderr).toContain('stdin, which is a terminal');
    expect((await run(['threads', 'send', 's-1'])).stderr).toContain('missing MESSAGE');
    expect(requests).toEqual([]);
  });

  it('spawn: --agent is required and --metadata must be a JSON object of strings', async () => {
    expect((await run(['threads', 'spawn'])).stderr).toContain('--agent AGENT is required');
    for (const bad of ['{nope', '[1]', '{"n":1}']) {
      const result = await run(['threads', 'spawn', '--agent', 'main', '--metadata', bad]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--metadata must be a JSON object');
    }
    expect(requests).toEqual([]);
    routes['POST /v1/threads'] = (request) => ({
      status: 201,
      body: thread('support-42', { metadata: (request.body as { metadata: Record<string, string> }).metadata }),
    });
    const spawned = await run([
      'threads',
      'spawn',
      '--agent',
      'main',
      '--session',
      'support-42',
      '--metadata',
      '{"user":"ann"}',
    ]);
    expect(spawned.code).toBe(0);
    expect(requests[0]!.body).toEqual({ agent: 'main', sessionKey: 'support-42', metadata: { user: 'ann' } });
    expect(spawned.stdout.split('\n')[0]).toBe('support-42');
  });

  it('list: follows the cursors up to --limit, with the filters on every page', async () => {
    routes['GET /v1/threads'] = (request) => {
      const page = Number(request.query.cursor ?? 0);
      const size = Number(request.query.limit);
      return {
        status: 200,
        body: {
          threads: Array.from({ length: size }, (_, i) => thread(`s-${page * 100 + i}`)),
          nextCursor: String(page + 1),
        },
      };
    };
    const result = await run(['threads', 'list', '--agent', 'main', '--status', 'active', '--limit', '150']);
    expect(result.code).toBe(0);
    expect(requests.map((r) => r.query)).toEqual([
      { agent: 'main', status: 'active', limit: '100' },
      { agent: 'main', status: 'active', limit: '50', cursor: '1' },
    ]);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SESSION KEY\s+AGENT\s+STATUS\s+TURNS\s+LAST ACTIVE$/);
    expect(lines[1]).toMatch(/^s-0\s+main\s+active\s+2\s+2026-01-01T00:05:00.000Z$/);
    expect(lines.filter((line) => line.startsWith('s-'))).toHaveLength(150);
    expect(result.stdout).toContain('(more threads follow: raise --limit to see them)');
    expect((await run(['threads', 'list', '--status', 'sleeping'])).code).toBe(2);
    expect((await run(['threads', 'list', '--limit', '0'])).code).toBe(2);
  });

  it('send --timeout: a turn not final in time exits 1 naming the turn; the long-poll never waits past the deadline', async () => {
    routes['POST /v1/threads/s-1/turns'] = () => ({
      status: 202,
      body: { turnId: 'turn_01CCCCCCCCCCCCCCCCCCCCCCCC', status: 'running', created: true },
    });
    routes['GET /v1/threads/s-1/turns/turn_01CCCCCCCCCCCCCCCCCCCCCCCC'] = () => ({
      status: 200,
      body: { ...tracedTurn, turnId: 'turn_01CCCCCCCCCCCCCCCCCCCCCCCC', reply: undefined, status: 'running' },
    });
    const started = Date.now();
    const result = await run(['threads', 'send', 's-1', 'hi', '--timeout', '1s']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'threadbound: wait_timeout: turn turn_01CCCCCCCCCCCCCCCCCCCCCCCC is still running after 1 s',
    );
    expect(result.stderr).toContain('"turnId":"turn_01CCCCCCCCCCCCCCCCCCCCCCCC"');
    const polls = requests.filter((r) => r.method === 'GET');
    expect(polls.length).toBeGreaterThan(0);
    for (const poll of polls) expect(Number(poll.query.wait)).toBeLessThanOrEqual(1);
    requests = [];
    const bad = await run(['threads', 'send', 's-1', 'hi', '--timeout', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout must be a duration');
    expect(requests).toEqual([]);
  });

  it('show: reads only the last N messages, starting from what turnCount bounds, not the whole history', async () => {
    // A history of `last` messages (seq 1..last) behind the messages API's paging.
    const history = (turnCount: number, last: number) => {
      routes['GET /v1/threads/s-1'] = () => ({ status: 200, body: thread('s-1', { turnCount }) });
      routes['GET /v1/threads/s-1/messages'] = (request) => {
        const after = Number(request.query.after);
        const limit = Number(request.query.limit);
        const seqs = Array.from({ length: Math.max(0, Math.min(limit, last - after)) }, (_, i) => after + i + 1);
        const messages = seqs.map((seq) => ({
          seq,
          role: seq % 2 ? 'user' : 'assistant',
          content: `m${seq}`,
          turnId: 'turn_01AAAAAAAAAAAAAAAAAAAAAAAA',
          agent: 'main',
          createdAt: '2026-01-01T00:00:00.000Z',
        }));
        return {
          status: 200,
          body: { messages, ...(seqs.length === limit && seqs.at(-1)! < last ? { nextAfter: seqs.at(-1) } : {}) },
        };
      };
      routes['GET /v1/threads/s-1/turns/turn_01AAAAAAAAAAAAAAAAAAAAAAAA'] = () => ({ status: 200, body: tracedTurn });
    };
    const show = async () => {
      requests = [];
      const result = await run(['threads', 'show', 's-1', '--messages', '5', '--json']);
      expect(result.code).toBe(0);
      return {
        seqs: (JSON.parse(result.stdout).messages as { seq: number }[]).map((m) => m.seq),
        reads: requests
          .filter((r) => r.path.endsWith('/messages'))
          .map((r) => [Number(r.query.after), Number(r.query.limit)]),
      };
    };
    // Every turn answered: one read of the last five.
    history(500, 1000);
    expect(await show()).toEqual({ seqs: [996, 997, 998, 999, 1000], reads: [[995, 100]] });
    // Three turns without a reply: the tail is short, one more read fills it in.
    history(500, 997);
    expect(await show()).toEqual({
      seqs: [993, 994, 995, 996, 997],
      reads: [
        [995, 100],
        [992, 3],
      ],
    });
    // Most turns failed: nothing past the upper bound; the read starts before turnCount, never at 0.
    history(500, 520);
    const sparse = await show();
    expect(sparse.seqs).toEqual([516, 517, 518, 519, 520]);
    expect(sparse.reads[0]).toEqual([995, 100]);
    expect(sparse.reads.slice(1).map(([after]) => after)[0]).toBe(495);
    // A short thread: from the start.
    history(2, 4);
    expect(await show()).toEqual({ seqs: [1, 2, 3, 4], reads: [[0, 100]] });
  });

  it('help lists the threads and agents commands', async () => {
    const help = await run(['help']);
    for (const command of [
      'threads spawn',
      'threads list',
      'threads show KEY',
      'threads send KEY MESSAGE',
      'threads restart KEY',
      'threads terminate KEY',
      'agents status',
      'agents restart NAME',
    ]) {
      expect(help.stdout).toContain(command);
    }
  });
});
