import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { TEST_KEYS, testAgent } from '../support/local-stack.js';
import { checkInvariants, expectInvariants, scanTable, type Violation } from './invariants.js';
import { type ReliabilityStack, startReliabilityStack, waitForQuiescence } from './support.js';

// Real activity first (turns, idempotent repeats, a restart that clears memory, a kept and a
// destroyed terminate, a model fallback, a secret refresh); then each invariant is broken by hand,
// one at a time, and the checker must name exactly that invariant and item.
let stack: ReliabilityStack;
type Item = Record<string, unknown>;
const pkOf = (sessionKey: string) => keys.threadPk('tenant-a', sessionKey);

beforeAll(async () => {
  stack = await startReliabilityStack(
    {
      threadManagement: { maxThreads: 1000 },
      agents: {
        keeper: testAgent(['test:delay=5'], { memory: { maxTurns: 50, maxAge: '24h', maxBytes: 100000 } }),
        destroyer: testAgent(['test:delay=5'], { autoDestroy: true }),
        // No Anthropic key is stored locally: every turn falls back to offline, audited in the agent's chain.
        faller: testAgent(['anthropic:claude-sonnet-4-5', 'offline'], { secrets: ['anthropic-api-key'] }),
        // Hangs on "hang" until its 2 s timeout: a turn that holds its lease while the check runs.
        hanger: testAgent(['test:hang-on=hang'], { timeout: '2s' }),
        failer: testAgent(['test:fail']),
      } as never,
      // The recovery pass would release a planted orphan lease while it is being checked.
    },
    { recoveryIntervalMs: 3_600_000 },
  );
  const spawn = async (agent: string, sessionKey: string) =>
    expect((await stack.call('POST', '/v1/threads', { body: { agent, sessionKey } })).status).toBe(201);
  const turn = async (sessionKey: string, input: string, idempotencyKey?: string) => {
    const submitted = await stack.call('POST', `/v1/threads/${sessionKey}/turns`, {
      body: { input, ...(idempotencyKey ? { idempotencyKey } : {}) },
    });
    expect(submitted.status).toBe(202);
    return stack.finalTurn(sessionKey, submitted.body.turnId);
  };
  await spawn('keeper', 'k1');
  for (let i = 0; i < 4; i += 1) expect((await turn('k1', `hello ${i}`, `idem-${i}`)).status).toBe('succeeded');
  expect((await turn('k1', 'hello 0', 'idem-0')).status).toBe('succeeded'); // a repeat: the same turn
  await spawn('keeper', 'k2');
  await turn('k2', 'before the restart');
  expect((await stack.call('POST', '/v1/threads/k2/restart', { body: { clearMemory: true } })).status).toBe(200);
  await turn('k2', 'after the restart');
  await spawn('keeper', 'k3');
  await turn('k3', 'one turn, then the end');
  expect((await stack.call('DELETE', '/v1/threads/k3')).status).toBe(200);
  await spawn('destroyer', 'd1');
  await turn('d1', 'soon gone');
  expect((await stack.call('DELETE', '/v1/threads/d1')).status).toBe(200);
  await spawn('destroyer', 'd1'); // a second incarnation; the first one's audit chain stays
  await turn('d1', 'second life');
  await spawn('failer', 'x1');
  expect((await turn('x1', 'this one fails')).status).toBe('failed');
  await spawn('faller', 'f1');
  expect((await turn('f1', 'fall back please')).status).toBe('succeeded');
  expect((await stack.call('POST', '/v1/secrets/anthropic-api-key/refresh', { key: TEST_KEYS.admin })).status).toBe(
    200,
  );
  await waitForQuiescence(stack.table);
});
afterAll(async () => stack?.stop());

/** The (invariant, item) pairs reported, without duplicates. */
async function reported(
  options: { quiescent?: boolean } = {},
): Promise<{ invariant: Violation['invariant']; item: string }[]> {
  const violations = await checkInvariants(stack.table, { ...options, config: stack.config });
  const pairs = new Map(violations.map((v) => [`${v.invariant}|${v.item}`, { invariant: v.invariant, item: v.item }]));
  return [...pairs.values()];
}

async function item(pk: string, sk: string): Promise<Item> {
  const found = await stack.table.getItem(pk, sk);
  if (!found) throw new Error(`no item ${pk}/${sk}`);
  return found;
}

const put = (value: Item) => stack.table.client.send(new PutCommand({ TableName: stack.table.tableName, Item: value }));
const remove = (pk: string, sk: string) =>
  stack.table.client.send(new DeleteCommand({ TableName: stack.table.tableName, Key: { pk, sk } }));

/**
 * Plants a violation (puts the changed items, deletes the named ones), checks that exactly
 * `expected` is reported, then puts the table back as it was and checks that it is clean again.
 */
async function planted(
  change: { put?: Item[]; delete?: { pk: string; sk: string }[] },
  expected: { invariant: Violation['invariant']; item: string },
) {
  const originals = await Promise.all(
    [...(change.put ?? []), ...(change.delete ?? [])].map((i) => stack.table.getItem(String(i.pk), String(i.sk))),
  );
  for (const value of change.put ?? []) await put(value);
  for (const key of change.delete ?? []) await remove(key.pk, key.sk);
  try {
    expect(await reported({ quiescent: true })).toEqual([expected]);
  } finally {
    const touched = [...(change.put ?? []), ...(change.delete ?? [])];
    for (const [i, key] of touched.entries()) {
      if (originals[i]) await put(originals[i]!);
      else await remove(String(key.pk), String(key.sk));
    }
  }
  expect(await reported({ quiescent: true })).toEqual([]);
}

/** The stored turns of a thread, oldest first. */
async function turnsOf(sessionKey: string): Promise<Item[]> {
  return (await scanTable(stack.table))
    .filter((i) => i.pk === pkOf(sessionKey) && i.kind === 'turn')
    .sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
}

describe('the invariant checker', () => {
  it('finds nothing wrong with a table after real activity, which has every kind of item it checks', async () => {
    const items = await scanTable(stack.table);
    const has = (predicate: (i: Item) => boolean) => expect(items.some(predicate)).toBe(true);
    has((i) => i.kind === 'message');
    has((i) => i.kind === 'turn' && typeof i.idempotencyKey === 'string');
    has((i) => String(i.pk).startsWith('SECRET#') && String(i.sk).startsWith('AUDIT#'));
    has((i) => String(i.pk).startsWith('AGENT#') && String(i.sk).startsWith('AUDIT#'));
    // The destroyed first incarnation of d1 left its chain beside the second one's.
    expect(new Set(items.filter((i) => i.pk === pkOf('d1') && i.kind === 'audit').map((i) => i.chain)).size).toBe(2);
    expect(await checkInvariants(stack.table, { quiescent: true, config: stack.config })).toEqual([]);
    await expectInvariants(stack.table, { quiescent: true, config: stack.config });
  });

  it('quiescent: a hung turn is reported as still running; without quiescent its lease and turn are consistent', async () => {
    expect((await stack.call('POST', '/v1/threads', { body: { agent: 'hanger', sessionKey: 'h1' } })).status).toBe(201);
    const submitted = await stack.call('POST', '/v1/threads/h1/turns', { body: { input: 'hang' } });
    expect(submitted.body.status).toBe('running');
    expect(await reported()).toEqual([]);
    expect(await reported({ quiescent: true })).toEqual([
      { invariant: 'leases', item: `${pkOf('h1')}/META` },
      { invariant: 'leases', item: `${pkOf('h1')}/${keys.turn(submitted.body.turnId)}` },
    ]);
    await expect(expectInvariants(stack.table, { quiescent: true })).rejects.toThrow(
      /\[leases\] .*h1\/META: lease still held/,
    );
    // The timeout ends it through the fail path, with everything released.
    expect((await stack.finalTurn('h1', submitted.body.turnId)).status).toBe('timed_out');
    await waitForQuiescence(stack.table);
    expect(await reported({ quiescent: true })).toEqual([]);
  });

  it('counters: a bumped agent counter, a deployment counter off by one, a negative running count', async () => {
    const agent = keys.agentCounters('keeper');
    const counters = await item(agent.pk, agent.sk);
    await planted(
      { put: [{ ...counters, activeThreads: Number(counters.activeThreads) + 1 }] },
      { invariant: 'counters', item: `${agent.pk}/${agent.sk}` },
    );
    await planted(
      { put: [{ ...counters, runningTurns: -1 }] },
      { invariant: 'counters', item: `${agent.pk}/${agent.sk}` },
    );
    const deployment = keys.deploymentCounters();
    const total = await item(deployment.pk, deployment.sk);
    await planted(
      { put: [{ ...total, activeThreads: Number(total.activeThreads) - 1 }] },
      { invariant: 'counters', item: 'DEPLOYMENT/COUNTERS' },
    );
  });

  it('counters: above the configured maximum, even when the threads were counted too', async () => {
    // One keeper thread more than its maxActiveThreads (100), planted with the counts that match it,
    // so only the maximum is broken.
    const agent = keys.agentCounters('keeper');
    const counters = await item(agent.pk, agent.sk);
    const extra = 101 - Number(counters.activeThreads);
    const template = await item(pkOf('k1'), 'META');
    const clones = Array.from({ length: extra }, (_, i) => ({
      ...template,
      ...keys.thread('tenant-a', `clone-${i}`),
      sessionKey: `clone-${i}`,
      gsi2pk: undefined,
      gsi2sk: undefined,
    }));
    const deployment = keys.deploymentCounters();
    const total = await item(deployment.pk, deployment.sk);
    const chainless = clones.map((clone) => ({ ...clone, auditSeq: 0, auditHash: undefined }));
    await planted(
      {
        put: [
          ...chainless,
          { ...counters, activeThreads: 101 },
          { ...total, activeThreads: Number(total.activeThreads) + extra },
        ],
      },
      { invariant: 'counters', item: `${agent.pk}/${agent.sk}` },
    );
  });

  it('leases: a lease on an idle thread (its slot taken too), a running turn without the lease', async () => {
    const thread = await item(pkOf('k1'), 'META');
    const [first] = await turnsOf('k1');
    const agent = keys.agentCounters('keeper');
    const counters = await item(agent.pk, agent.sk);
    // An orphan lease: held (and counted) for a turn that already succeeded.
    await planted(
      {
        put: [
          {
            ...thread,
            lease: {
              turnId: first!.turnId,
              fencingToken: first!.fencingToken,
              leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
            },
          },
          { ...counters, runningTurns: Number(counters.runningTurns) + 1 },
        ],
      },
      { invariant: 'leases', item: `${pkOf('k1')}/META` },
    );
    // x1's turn failed (it has its user message, no reply); mark it running again without a lease.
    const [failed] = await turnsOf('x1');
    expect(failed!.status).toBe('failed');
    await planted(
      { put: [{ ...failed, status: 'running' }] },
      { invariant: 'leases', item: `${pkOf('x1')}/${keys.turn(String(failed!.turnId))}` },
    );
  });

  it('leases: a queued turn left behind on a thread that runs nothing', async () => {
    const thread = await item(pkOf('k1'), 'META');
    const turnId = 'turn_left_behind';
    const queueSeq = Number(thread.queueSeq) + 1;
    await planted(
      {
        put: [
          { ...thread, queueSeq, queuedTurns: 1 },
          {
            pk: pkOf('k1'),
            sk: keys.turn(turnId),
            kind: 'turn',
            tenant: 'tenant-a',
            sessionKey: 'k1',
            threadId: thread.threadId,
            turnId,
            agent: 'keeper',
            status: 'queued',
            input: 'x',
            generation: 1,
            queueSeq,
            createdAt: new Date().toISOString(),
          },
          { pk: pkOf('k1'), sk: keys.queue(queueSeq), kind: 'queue', queueSeq, turnId },
        ],
      },
      { invariant: 'leases', item: `${pkOf('k1')}/${keys.turn(turnId)}` },
    );
  });

  it('messages: a message deleted from the middle of a history', async () => {
    await planted(
      { delete: [{ pk: pkOf('k1'), sk: keys.message(3) }] },
      { invariant: 'messages', item: `${pkOf('k1')}/${keys.message(3)}` },
    );
  });

  it("messages: a turn's userSeq pointing at another turn's message", async () => {
    const [first, second] = await turnsOf('k1');
    await planted(
      { put: [{ ...second, userSeq: first!.userSeq }] },
      { invariant: 'messages', item: `${pkOf('k1')}/${keys.turn(String(second!.turnId))}` },
    );
  });

  it('turns: a reply written twice (the thread counted it)', async () => {
    const thread = await item(pkOf('k1'), 'META');
    const last = await item(pkOf('k1'), keys.message(Number(thread.messageSeq)));
    expect(last.role).toBe('assistant');
    const seq = Number(thread.messageSeq) + 1;
    await planted(
      {
        put: [
          { ...thread, messageSeq: seq },
          { ...last, sk: keys.message(seq), seq },
        ],
      },
      { invariant: 'turns', item: `${pkOf('k1')}/${keys.turn(String(last.turnId))}` },
    );
  });

  it('turns: an idempotency key used by a second turn', async () => {
    const [first] = await turnsOf('k1');
    const copy = {
      ...first,
      sk: keys.turn('turn_copy'),
      turnId: 'turn_copy',
      status: 'failed',
      userSeq: undefined,
      replySeq: undefined,
      reply: undefined,
      createdAt: new Date().toISOString(),
    };
    await planted({ put: [copy] }, { invariant: 'turns', item: `${pkOf('k1')}/${keys.turn('turn_copy')}` });
  });

  it("audit: an edited entry in a thread's chain, a secret's and an agent's; a head the chain does not reach", async () => {
    const entries = (await scanTable(stack.table)).filter((i) => i.kind === 'audit');
    const threadEntry = entries.find((i) => i.pk === pkOf('k1') && i.seq === 2)!;
    await planted(
      { put: [{ ...threadEntry, data: { ...(threadEntry.data as Item), status: 'failed' } }] },
      { invariant: 'audit', item: `${threadEntry.pk}/${threadEntry.sk}` },
    );
    const secretEntry = entries.find((i) => String(i.pk).startsWith('SECRET#'))!;
    await planted(
      { put: [{ ...secretEntry, actor: 'someone-else' }] },
      { invariant: 'audit', item: `${secretEntry.pk}/${secretEntry.sk}` },
    );
    const agentEntry = entries.find((i) => String(i.pk).startsWith('AGENT#'))!;
    await planted(
      { put: [{ ...agentEntry, at: '2000-01-01T00:00:00.000Z' }] },
      { invariant: 'audit', item: `${agentEntry.pk}/${agentEntry.sk}` },
    );
    // The last entry removed: the chain still verifies but stops short of the thread's head.
    const thread = await item(pkOf('k1'), 'META');
    const lastSk = keys.audit(String(thread.threadId), Number(thread.auditSeq));
    await planted({ delete: [{ pk: pkOf('k1'), sk: lastSk }] }, { invariant: 'audit', item: `${pkOf('k1')}/META` });
  });
});
