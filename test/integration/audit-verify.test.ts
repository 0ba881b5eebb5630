import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAuditChains } from '../../lib/adapters/dynamodb/audit-chains.js';
import { auditPut, PartitionAuditLog } from '../../lib/adapters/dynamodb/audit-items.js';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { type AuditEntry, chainEntry } from '../../lib/audit/chain.js';
import { type ChainReport, verifyAuditChains } from '../../lib/audit/integrity.js';
import { runCliInMemory } from '../support/cli.js';
import { startTestStack, TEST_KEYS, type TestStack, testAgent } from '../support/local-stack.js';

// `threadbound audit verify` against the whole local stack in-process: real activity fills every
// kind of chain (a live thread, an auto-destroyed one, a secret's, an agent's), then the table is
// tampered with directly, one way at a time, and the walk must name exactly what was done.

let stack: TestStack;
/** Partitions and chains of the activity below. */
const chains = {
  live: { partition: '', chain: '' },
  destroyed: { partition: '', chain: '' },
  secret: { partition: 'SECRET#anthropic-api-key', chain: 'secret:anthropic-api-key' },
  agent: { partition: 'AGENT#main', chain: 'agent:main' },
};

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCliInMemory([...argv, '--url', stack.url, '--key', TEST_KEYS.admin]);
}

async function turn(sessionKey: string, input: string): Promise<void> {
  const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, { body: { input } });
  expect(submitted.status).toBe(202);
  expect((await stack.finalTurn(sessionKey, submitted.body.turnId)).status).toBe('succeeded');
}

/** Every item of a chain, in key order, as stored (keys included). */
async function items(ref: { partition: string; chain: string }): Promise<Record<string, unknown>[]> {
  const result = await stack.table.client.send(
    new QueryCommand({
      TableName: stack.table.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': ref.partition, ':p': `AUDIT#${ref.chain}#` },
      ConsistentRead: true,
    }),
  );
  return result.Items ?? [];
}

/** A clock that advances by one millisecond on every read. */
function ticker(): () => number {
  let t = 0;
  return () => {
    t += 1;
    return t;
  };
}

const put = (item: Record<string, unknown>) =>
  stack.table.client.send(new PutCommand({ TableName: stack.table.tableName, Item: item }));
const remove = (item: Record<string, unknown>) =>
  stack.table.client.send(new DeleteCommand({ TableName: stack.table.tableName, Key: { pk: item.pk, sk: item.sk } }));

/** Runs `audit verify --json` and returns its verdict. */
async function verify(): Promise<{
  code: number;
  report: { ok: boolean; chains: number; entries: number; problems: number; broken: ChainReport[] };
}> {
  const run = await cli(['audit', 'verify', '--json']);
  expect(run.stderr).toBe('');
  return { code: run.code, report: JSON.parse(run.stdout) };
}

beforeAll(async () => {
  stack = await startTestStack({
    // The first model's key was never stored: every turn falls back to offline and leaves a
    // model_fallback entry in the agent's chain.
    agents: {
      main: testAgent(['anthropic:claude-test', 'offline'], {
        autoDestroy: true,
        subAgents: [],
        maxChildren: 0,
        secrets: ['anthropic-api-key'],
      }),
    } as never,
  });
  for (const sessionKey of ['live', 'destroyed'])
    expect((await stack.call('POST', '/v1/threads', { body: { agent: 'main', sessionKey } })).status).toBe(201);
  await turn('live', 'hello');
  await turn('live', 'hello again');
  await turn('destroyed', 'short-lived');
  expect((await stack.call('POST', '/v1/threads/live/restart', { body: {} })).status).toBe(200);
  const live = await stack.table.getItem('THREAD#tenant-a#live', 'META');
  chains.live = { partition: 'THREAD#tenant-a#live', chain: String(live!.threadId) };
  const [destroyedSpawn] = (
    await stack.call('GET', '/v1/audit?type=thread_spawn&sessionKey=destroyed', { key: TEST_KEYS.admin })
  ).body.events;
  chains.destroyed = { partition: 'THREAD#tenant-a#destroyed', chain: destroyedSpawn.chain };
  expect((await stack.call('DELETE', '/v1/threads/destroyed')).body).toMatchObject({ destroyed: true });
  for (let i = 0; i < 3; i += 1)
    expect((await stack.call('POST', '/v1/secrets/anthropic-api-key/refresh', { key: TEST_KEYS.admin })).status).toBe(
      200,
    );
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('audit verify', () => {
  it('passes on an untouched table: every chain, every entry, exit 0', async () => {
    expect((await items(chains.live)).length).toBe(4); // spawn, 2 × agent_exec, restart
    expect((await items(chains.destroyed)).length).toBe(3); // spawn, agent_exec, terminate
    expect(await stack.table.getItem(chains.destroyed.partition, 'META')).toBeUndefined(); // no head any more
    expect((await items(chains.secret)).length).toBe(3);
    expect((await items(chains.agent)).length).toBe(3);

    const text = await cli(['audit', 'verify']);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('4 chains, 13 entries verified, 0 problems: every chain is intact\n');
    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(report).toEqual({ ok: true, chains: 4, entries: 13, problems: 0, broken: [] });
  });

  it('pinpoints an entry whose data was modified (hash kept)', async () => {
    const [, second] = await items(chains.live);
    await put({ ...second!, data: { ...(second!.data as object), reply: 'something else' } });
    try {
      const { code, report } = await verify();
      expect(code).toBe(1);
      expect(report.broken).toEqual([
        {
          ...chains.live,
          entries: 4,
          head: { seq: 4, hash: expect.any(String) },
          ok: false,
          problems: [{ kind: 'modified', seq: 2, message: 'the entry at seq 2 does not match its hash' }],
        },
      ]);
      const text = await cli(['audit', 'verify']);
      expect(text.code).toBe(1);
      const lines = text.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^PARTITION\s+CHAIN\s+SEQ\s+PROBLEM\s+DETAIL$/);
      expect(lines[1]).toMatch(
        new RegExp(
          `^THREAD#tenant-a#live\\s+${chains.live.chain}\\s+2\\s+modified\\s+the entry at seq 2 does not match its hash$`,
        ),
      );
      expect(lines.at(-1)).toBe('4 chains, 13 entries verified, 1 problem: 1 broken chain');
      expect(lines).toHaveLength(3);
    } finally {
      await put(second!);
    }
  });

  it('pinpoints a deleted middle entry of a chain without a head (a destroyed thread)', async () => {
    const [, middle] = await items(chains.destroyed);
    await remove(middle!);
    try {
      const { code, report } = await verify();
      expect(code).toBe(1);
      expect(report.broken).toEqual([
        {
          ...chains.destroyed,
          entries: 2,
          ok: false,
          problems: [{ kind: 'missing', seq: 2, lastSeq: 2, message: 'entry 2 is missing' }],
        },
      ]);
    } finally {
      await put(middle!);
    }
  });

  it('pinpoints a deleted last entry of a chain that has a head', async () => {
    for (const ref of [chains.live, chains.agent]) {
      const all = await items(ref);
      const last = all.at(-1)!;
      await remove(last);
      try {
        const { code, report } = await verify();
        expect(code).toBe(1);
        const seq = all.length;
        expect(report.broken).toEqual([
          expect.objectContaining({
            ...ref,
            entries: seq - 1,
            ok: false,
            problems: [
              {
                kind: 'missing',
                seq,
                lastSeq: seq,
                message: `entry ${seq} is missing: the head records seq ${seq}, the chain ends at ${seq - 1}`,
              },
            ],
          }),
        ]);
      } finally {
        await put(last);
      }
    }
  });

  it('pinpoints two entries whose contents were swapped (keys kept)', async () => {
    const [first, second, third] = await items(chains.secret);
    const contents = ({ pk, sk, ...rest }: Record<string, unknown>) => rest;
    await put({ ...contents(third!), pk: first!.pk, sk: first!.sk });
    await put({ ...contents(first!), pk: third!.pk, sk: third!.sk });
    try {
      const { code, report } = await verify();
      expect(code).toBe(1);
      expect(report.broken).toEqual([
        {
          ...chains.secret,
          entries: 3,
          head: { seq: 3, hash: third!.hash },
          ok: false,
          problems: [{ kind: 'reordered', seq: 1, seqs: [1, 3], message: 'the entries at seq 1 and 3 are swapped' }],
        },
      ]);
      expect(second).toBeDefined();
    } finally {
      await put(first!);
      await put(third!);
    }
  });

  it('finds a chain whose every entry was deleted through its head', async () => {
    const all = await items(chains.agent);
    for (const item of all) await remove(item);
    try {
      const { report } = await verify();
      expect(report.broken).toEqual([
        expect.objectContaining({
          ...chains.agent,
          entries: 0,
          problems: [expect.objectContaining({ kind: 'missing', seq: 1, lastSeq: 3 })],
        }),
      ]);
    } finally {
      for (const item of all) await put(item);
    }
  });

  it('walks in bounded pages: each chain exactly once, also when its first entry is gone', async () => {
    const [first] = await items(chains.live);
    await remove(first!);
    try {
      const source = new DynamoAuditChains(stack.table.client, stack.table.tableName, 2);
      const seen: ChainReport[] = [];
      let cursor: string | undefined;
      let calls = 0;
      do {
        // A budget of one page per call, as a slow page would leave it.
        const page = await verifyAuditChains(source, cursor, { timeMs: 0, maxChains: 1 });
        seen.push(...page.chains);
        cursor = page.cursor;
        calls += 1;
      } while (cursor !== undefined && calls < 200);
      expect(calls).toBeGreaterThan(5);
      expect(seen.map((c) => `${c.partition} ${c.chain}`).sort()).toEqual(
        Object.values(chains)
          .map((c) => `${c.partition} ${c.chain}`)
          .sort(),
      );
      expect(seen.filter((c) => !c.ok)).toEqual([
        expect.objectContaining({
          ...chains.live,
          problems: [expect.objectContaining({ kind: 'missing', seq: 1, lastSeq: 1 })],
        }),
      ]);
    } finally {
      await put(first!);
    }
    expect((await verify()).code).toBe(0);
  });

  it('stops inside a Scan page when the budget is spent, and the walk still verifies each chain once', async () => {
    // One page holds every chain: the budget alone must split the walk.
    const source = new DynamoAuditChains(stack.table.client, stack.table.tableName, 10_000);
    for (const budget of [
      { timeMs: 60_000, maxChains: 1 },
      // A clock that moves 1 ms per look: at most two chains start before the 2 ms are spent.
      {
        timeMs: 2,
        maxChains: 1_000,
        concurrency: 1,
        now: ticker(),
      },
    ]) {
      const seen: ChainReport[] = [];
      const perCall: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await verifyAuditChains(source, cursor, budget);
        seen.push(...page.chains);
        perCall.push(page.chains.length);
        cursor = page.cursor;
      } while (cursor !== undefined && perCall.length < 50);
      expect(perCall.length).toBeGreaterThan(1);
      expect(Math.max(...perCall)).toBeLessThanOrEqual(budget.maxChains === 1 ? 1 : 2);
      expect(seen.map((c) => `${c.partition} ${c.chain}`).sort()).toEqual(
        Object.values(chains)
          .map((c) => `${c.partition} ${c.chain}`)
          .sort(),
      );
      expect(seen.every((c) => c.ok)).toBe(true);
    }
  });

  it('gives a chain one owner when a key below seq 1 was planted on another page', async () => {
    const [first] = await items(chains.live);
    const planted = { ...first!, sk: keys.audit(chains.live.chain, 0) };
    await put(planted);
    try {
      // One item per Scan page: seq 0 and seq 1 are on different pages.
      const page = await verifyAuditChains(
        new DynamoAuditChains(stack.table.client, stack.table.tableName, 1),
        undefined,
        { timeMs: 60_000, maxChains: 1_000 },
      );
      expect(page.cursor).toBeUndefined();
      expect(page.chains.filter((c) => c.chain === chains.live.chain)).toHaveLength(1);
    } finally {
      await remove(planted);
    }
  });

  it('pinpoints a correctly linked entry planted past the head', async () => {
    const stored = await items(chains.secret);
    const last = stored.at(-1) as unknown as AuditEntry;
    const forged = chainEntry(
      chains.secret.chain,
      { seq: last.seq, hash: last.hash },
      { type: 'secret_refresh', at: new Date().toISOString(), data: {} },
    );
    const item = auditPut(stack.table.tableName, chains.secret.partition, forged).Put.Item;
    await put(item);
    try {
      const { code, report } = await verify();
      expect(code).toBe(1);
      expect(report.broken).toEqual([
        {
          ...chains.secret,
          entries: 4,
          head: { seq: 3, hash: last.hash },
          ok: false,
          problems: [{ kind: 'beyond_head', seq: 4, lastSeq: 4, message: 'entry 4 is stored past the head (seq 3)' }],
        },
      ]);
    } finally {
      await remove(item);
    }
  });

  it('does not report an append that lands while a chain is read', async () => {
    const { chain, partition } = chains.agent;
    const head = keys.agentAuditHead('main');
    const log = new PartitionAuditLog(stack.table.client, stack.table.tableName);
    let appended: AuditEntry | undefined;
    // The real client, with a real append slipped in right after the first read of the head.
    const client = {
      send: async (command: { input: { Key?: Record<string, unknown> } }) => {
        const result = await (stack.table.client.send as (c: unknown) => Promise<unknown>)(command);
        if (command instanceof GetCommand && command.input.Key?.pk === partition && !appended) {
          appended = await log.append(head.pk, head.sk, chain, {
            type: 'model_fallback',
            at: new Date().toISOString(),
            agent: 'main',
            data: {},
          });
        }
        return result;
      },
    } as unknown as DynamoDBDocumentClient;
    const page = await verifyAuditChains(new DynamoAuditChains(client, stack.table.tableName), undefined, {
      timeMs: 60_000,
      maxChains: 1_000,
    });
    expect(appended?.seq).toBe(4);
    const agent = page.chains.find((c) => c.chain === chain)!;
    // Read with the head before the append, the entries after it: the re-read head covers seq 4.
    expect(agent).toMatchObject({ entries: 4, head: { seq: 3 }, ok: true, problems: [] });
    expect(page.chains.every((c) => c.ok)).toBe(true);
  });

  it('is admin-only, rejects a forged cursor, and returns no entry contents', async () => {
    expect((await stack.call('GET', '/v1/audit/verify')).status).toBe(403);
    const forged = await stack.call('GET', '/v1/audit/verify?cursor=bm9wZQ', { key: TEST_KEYS.admin });
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe('invalid_cursor');
    const answer = await stack.call('GET', '/v1/audit/verify', { key: TEST_KEYS.admin });
    expect(answer.status).toBe(200);
    const keysOf = new Set(answer.body.chains.flatMap((c: object) => Object.keys(c)));
    expect([...keysOf].sort()).toEqual(['chain', 'entries', 'head', 'ok', 'partition', 'problems']);
    expect(JSON.stringify(answer.body)).not.toContain('hello');
  });
});

describe('audit (listing)', () => {
  it('threadbound audit --period 24h --type thread_spawn lists the spawns', async () => {
    const { code, stdout, stderr } = await cli(['audit', '--period', '24h', '--type', 'thread_spawn']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AT\s+TYPE\s+AGENT\/ACTOR\s+SESSION KEY\s+CHAIN#SEQ\s+SUMMARY$/);
    expect(lines.slice(1)).toHaveLength(2);
    for (const line of lines.slice(1)) expect(line).toMatch(/^\S+Z\s+thread_spawn\s+main\s+(live|destroyed)\s+\S+#1\b/);
    expect(lines[1]).toContain(`${chains.live.chain}#1`);

    const json = await cli(['audit', '--type', 'agent_exec', '--session', 'live', '--json']);
    const events = JSON.parse(json.stdout).events as { type: string; sessionKey: string; seq: number }[];
    expect(events.map((e) => [e.type, e.sessionKey, e.seq])).toEqual([
      ['agent_exec', 'live', 2],
      ['agent_exec', 'live', 3],
    ]);
    // --limit stops following pages there.
    const limited = await cli(['audit', '--limit', '2', '--json']);
    expect(JSON.parse(limited.stdout)).toMatchObject({ more: true });
    expect(JSON.parse(limited.stdout).events).toHaveLength(2);
    expect((await cli(['audit', '--limit', 'x'])).code).toBe(2);
  });
});
