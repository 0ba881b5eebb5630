import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INDEX_SHARDS } from '../../lib/adapters/dynamodb/table-definition.js';
import { type AuditEntry, chainEntry, GENESIS_HASH } from '../../lib/audit/chain.js';
import { nextAuditEntry, withAuditHead } from '../../lib/threads/audit.js';
import { LimitReachedError, ThreadError } from '../../lib/threads/errors.js';
import type { Thread } from '../../lib/threads/model.js';
import type { SpawnLimits, ThreadStore, ThreadWrite } from '../../lib/threads/ports.js';
import type { Message, Turn, TurnStatus } from '../../lib/turns/model.js';
import { newTurn } from '../../lib/turns/new-turn.js';

/** A store under test, and how to throw it away. */
export interface StoreUnderTest {
  store: ThreadStore;
  cleanup(): Promise<void>;
}

const LIMITS: SpawnLimits = { maxThreads: 100, maxActiveThreads: 100 };
const T0 = '2026-06-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

/** A new thread of tenant acme (agent "a" unless said otherwise) and its first audit entry. */
function spawnOf(sessionKey: string, over: Partial<Thread> = {}): { thread: Thread; audit: AuditEntry } {
  const base = {
    tenant: 'acme',
    sessionKey,
    threadId: `th_${sessionKey}_${over.createdAt ?? T0}`,
    agent: 'a',
    mode: 'thread-bound' as const,
    status: 'active' as const,
    generation: 1,
    version: 1,
    createdAt: T0,
    lastActiveAt: T0,
    turnCount: 0,
    messageSeq: 0,
    memoryFloorSeq: 0,
    queueSeq: 0,
    queuedTurns: 0,
    fencingSeq: 0,
    metadata: {},
    ...over,
  };
  const audit = chainEntry(
    base.threadId,
    { seq: 0, hash: GENESIS_HASH },
    { type: 'thread_spawn', at: base.createdAt, tenant: base.tenant, sessionKey, agent: base.agent, data: {} },
  );
  return { thread: { ...base, auditSeq: audit.seq, auditHash: audit.hash }, audit };
}

/** The thread one version on, with `changes` and an audit entry for the step. */
function step(thread: Thread, changes: Partial<Thread> = {}): { after: Thread; audit: AuditEntry } {
  const audit = nextAuditEntry(thread, { type: 'thread_restart', at: T0, tenant: thread.tenant, data: {} });
  return { after: withAuditHead({ ...thread, ...changes, version: thread.version + 1 }, audit), audit };
}

function turnOf(thread: Thread, turnId: string, status: TurnStatus = 'running'): Turn {
  return { ...newTurn(thread, turnId, `input of ${turnId}`, new Date(T0)), status };
}

function messageOf(seq: number, createdAt = T0): Message {
  return {
    seq,
    role: seq % 2 ? 'user' : 'assistant',
    content: `message ${seq}`,
    turnId: 'turn_1',
    agent: 'a',
    createdAt,
  };
}

/**
 * The behaviour every ThreadStore adapter must have, run against each (DynamoDB Local and memory):
 * conditions and refusals, atomic transitions, orders, pages and cursors.
 */
export function describeThreadStoreContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`ThreadStore contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: ThreadStore;
    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    /** Creates a thread and returns it as stored. */
    async function spawn(sessionKey: string, over: Partial<Thread> = {}): Promise<Thread> {
      const { thread, audit } = spawnOf(sessionKey, over);
      await store.create(thread, audit, LIMITS);
      return thread;
    }

    /** Moves a thread one version on with these writes; expects the transition to land. */
    async function advance(
      thread: Thread,
      changes: Partial<Thread> = {},
      writes: ThreadWrite[] = [],
      counters: Parameters<ThreadStore['transition']>[3] = [],
    ): Promise<Thread> {
      const { after, audit } = step(thread, changes);
      expect(await store.transition(thread, after, audit, counters, writes)).toEqual({ ok: true });
      return after;
    }

    describe('create and get', () => {
      it('stores a thread with its first audit entry and counts it', async () => {
        const thread = await spawn('one', { metadata: { team: 'blue' } });
        expect(await store.get('acme', 'one')).toEqual(thread);
        expect(await store.get('acme', 'missing')).toBeUndefined();
        expect(await store.get('globex', 'one')).toBeUndefined();
        expect(await store.auditTrail('acme', 'one', thread.threadId)).toHaveLength(1);
        expect(await store.counters(['a', 'b'])).toEqual({
          agents: {
            a: { activeThreads: 1, runningTurns: 0, timedOutTurns: 0 },
            b: { activeThreads: 0, runningTurns: 0, timedOutTurns: 0 },
          },
          activeThreads: 1,
        });
      });

      it('refuses a key that exists (thread_exists), writing nothing', async () => {
        await spawn('dup');
        const again = spawnOf('dup', { createdAt: at(1), agent: 'b' });
        const refused = store.create(again.thread, again.audit, LIMITS);
        await expect(refused).rejects.toBeInstanceOf(ThreadError);
        await expect(refused).rejects.toMatchObject({ code: 'thread_exists' });
        expect((await store.counters(['a', 'b'])).agents.b!.activeThreads).toBe(0);
        expect((await store.counters([])).activeThreads).toBe(1);
        expect(await store.auditTrail('acme', 'dup', again.thread.threadId)).toEqual([]);
      });

      it("refuses past the agent's maxActiveThreads and the deployment's maxThreads", async () => {
        await spawn('l1');
        const second = spawnOf('l2');
        await expect(
          store.create(second.thread, second.audit, { maxThreads: 10, maxActiveThreads: 1 }),
        ).rejects.toMatchObject({ limit: 'maxActiveThreads', max: 1 });
        const other = spawnOf('l3', { agent: 'b' });
        const refused = store.create(other.thread, other.audit, { maxThreads: 1, maxActiveThreads: 10 });
        await expect(refused).rejects.toBeInstanceOf(LimitReachedError);
        await expect(refused).rejects.toMatchObject({ limit: 'maxThreads', max: 1 });
        expect(await store.get('acme', 'l2')).toBeUndefined();
        expect(await store.get('acme', 'l3')).toBeUndefined();
        expect((await store.counters(['a', 'b'])).agents).toMatchObject({
          a: { activeThreads: 1 },
          b: { activeThreads: 0 },
        });
        // An existing key is reported before a full limit.
        const both = spawnOf('l1', { createdAt: at(1) });
        await expect(
          store.create(both.thread, both.audit, { maxThreads: 1, maxActiveThreads: 1 }),
        ).rejects.toMatchObject({
          code: 'thread_exists',
        });
      });
    });

    describe('transition', () => {
      it('replaces the thread on the version it read, with its audit entry and counters', async () => {
        const thread = await spawn('t');
        const after = await advance(thread, { turnCount: 3 }, [], [{ agent: 'a', timedOutTurns: 2 }]);
        expect(await store.get('acme', 't')).toEqual(after);
        expect((await store.counters(['a'])).agents.a).toEqual({ activeThreads: 1, runningTurns: 0, timedOutTurns: 2 });
        const trail = await store.auditTrail('acme', 't', thread.threadId);
        expect(trail.map((entry) => entry.seq)).toEqual([1, 2]);
      });

      it('refuses a stale version, another incarnation and a terminated thread (version), writing nothing', async () => {
        const thread = await spawn('v');
        const current = await advance(thread);
        const stale = step(thread, { turnCount: 9 });
        expect(await store.transition(thread, stale.after, stale.audit, [])).toEqual({ ok: false, reason: 'version' });
        const other = step({ ...current, threadId: 'th_other' });
        expect(await store.transition({ ...current, threadId: 'th_other' }, other.after, other.audit, [])).toEqual({
          ok: false,
          reason: 'version',
        });
        const ended = await advance(
          current,
          { status: 'terminated', terminatedAt: at(1) },
          [],
          [{ agent: 'a', activeThreads: -1 }],
        );
        const revived = step(ended, { status: 'active' });
        expect(await store.transition(ended, revived.after, revived.audit, [])).toEqual({
          ok: false,
          reason: 'version',
        });
        expect(await store.get('acme', 'v')).toEqual(ended);
        expect((await store.counters(['a'])).activeThreads).toBe(0);
        const missing = spawnOf('never');
        const ghost = step(missing.thread);
        expect(await store.transition(missing.thread, ghost.after, ghost.audit, [])).toEqual({
          ok: false,
          reason: 'version',
        });
      });

      it('lets exactly one of two transitions from one read win', async () => {
        const thread = await spawn('race');
        const left = step(thread, { turnCount: 1 });
        const right = step(thread, { turnCount: 2 });
        const outcomes = await Promise.all([
          store.transition(thread, left.after, left.audit, [], [{ kind: 'putTurn', turn: turnOf(thread, 'turn_l') }]),
          store.transition(thread, right.after, right.audit, [], [{ kind: 'putTurn', turn: turnOf(thread, 'turn_r') }]),
        ]);
        expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(1);
        expect(outcomes.filter((outcome) => !outcome.ok)).toEqual([{ ok: false, reason: 'version' }]);
        const winner = outcomes[0]!.ok ? 'turn_l' : 'turn_r';
        const loser = winner === 'turn_l' ? 'turn_r' : 'turn_l';
        expect(await store.getTurn('acme', 'race', winner)).toBeDefined();
        expect(await store.getTurn('acme', 'race', loser)).toBeUndefined();
        expect(await store.auditTrail('acme', 'race', thread.threadId)).toHaveLength(2);
      });

      it('puts messages and turns; a taken turnId is turn_exists and nothing lands', async () => {
        const thread = await spawn('pt');
        const turn = turnOf(thread, 'turn_1');
        const after = await advance(thread, { messageSeq: 1 }, [
          { kind: 'putTurn', turn },
          { kind: 'putMessage', message: messageOf(1) },
        ]);
        expect(await store.getTurn('acme', 'pt', 'turn_1')).toEqual(turn);
        expect(await store.getTurn('acme', 'pt', 'turn_2')).toBeUndefined();
        const again = step(after, { messageSeq: 2 });
        expect(
          await store.transition(
            after,
            again.after,
            again.audit,
            [],
            [
              { kind: 'putMessage', message: messageOf(2) },
              { kind: 'putTurn', turn: { ...turn, input: 'again' } },
            ],
          ),
        ).toEqual({ ok: false, reason: 'turn_exists' });
        expect(await store.get('acme', 'pt')).toEqual(after);
        expect(await store.messagesAfter('acme', 'pt', 0, 10)).toEqual([messageOf(1)]);
        expect(await store.getTurn('acme', 'pt', 'turn_1')).toEqual(turn);
      });

      it('updates a turn only from the status it expects (turn_state otherwise)', async () => {
        const thread = await spawn('ut');
        const turn = turnOf(thread, 'turn_1');
        const after = await advance(thread, {}, [{ kind: 'putTurn', turn }]);
        const done = { ...turn, status: 'succeeded' as const, reply: 'hi', endedAt: at(1) };
        const later = await advance(after, {}, [{ kind: 'updateTurn', turn: done, expected: 'running' }]);
        expect(await store.getTurn('acme', 'ut', 'turn_1')).toEqual(done);
        const twice = step(later);
        expect(
          await store.transition(
            later,
            twice.after,
            twice.audit,
            [],
            [{ kind: 'updateTurn', turn: { ...done, reply: 'other' }, expected: 'running' }],
          ),
        ).toEqual({ ok: false, reason: 'turn_state' });
        const missing = step(later);
        expect(
          await store.transition(
            later,
            missing.after,
            missing.audit,
            [],
            [{ kind: 'updateTurn', turn: turnOf(thread, 'turn_x', 'succeeded'), expected: 'running' }],
          ),
        ).toEqual({ ok: false, reason: 'turn_state' });
        expect(await store.getTurn('acme', 'ut', 'turn_1')).toEqual(done);
        expect(await store.getTurn('acme', 'ut', 'turn_x')).toBeUndefined();
      });

      it('fails a running turn without reading it; a finished or missing turn is turn_state', async () => {
        const thread = await spawn('ft');
        const after = await advance(thread, {}, [
          { kind: 'putTurn', turn: turnOf(thread, 'turn_run') },
          { kind: 'putTurn', turn: turnOf(thread, 'turn_done', 'succeeded') },
        ]);
        const failed = await advance(after, {}, [{ kind: 'failTurn', turnId: 'turn_run', error: 'lost', at: at(2) }]);
        expect(await store.getTurn('acme', 'ft', 'turn_run')).toEqual({
          ...turnOf(thread, 'turn_run'),
          status: 'failed',
          error: 'lost',
          endedAt: at(2),
        });
        for (const turnId of ['turn_done', 'turn_run', 'turn_none']) {
          const next = step(failed);
          expect(
            await store.transition(
              failed,
              next.after,
              next.audit,
              [],
              [{ kind: 'failTurn', turnId, error: 'x', at: at(3) }],
            ),
          ).toEqual({ ok: false, reason: 'turn_state' });
        }
        expect(await store.getTurn('acme', 'ft', 'turn_done')).toMatchObject({ status: 'succeeded' });
        expect(await store.getTurn('acme', 'ft', 'turn_none')).toBeUndefined();
      });

      it('enqueues and dequeues; the queue head is the lowest queueSeq', async () => {
        const thread = await spawn('q');
        expect(await store.queueHead('acme', 'q')).toBeUndefined();
        const queued = await advance(thread, { queueSeq: 11, queuedTurns: 3 }, [
          { kind: 'enqueue', queueSeq: 10, turnId: 'turn_b' },
          { kind: 'enqueue', queueSeq: 9, turnId: 'turn_a' },
          { kind: 'enqueue', queueSeq: 11, turnId: 'turn_c' },
        ]);
        expect(await store.queueHead('acme', 'q')).toEqual({ queueSeq: 9, turnId: 'turn_a' });
        const next = await advance(queued, { queuedTurns: 2 }, [{ kind: 'dequeue', queueSeq: 9 }]);
        expect(await store.queueHead('acme', 'q')).toEqual({ queueSeq: 10, turnId: 'turn_b' });
        // A queue entry that is gone, or a position already taken, is a broken invariant: thrown, nothing lands.
        const gone = step(next);
        await expect(
          store.transition(next, gone.after, gone.audit, [], [{ kind: 'dequeue', queueSeq: 9 }]),
        ).rejects.toThrow();
        const taken = step(next);
        await expect(
          store.transition(next, taken.after, taken.audit, [], [{ kind: 'enqueue', queueSeq: 10, turnId: 'turn_z' }]),
        ).rejects.toThrow();
        expect(await store.get('acme', 'q')).toEqual(next);
        expect(await store.queueHead('acme', 'q')).toEqual({ queueSeq: 10, turnId: 'turn_b' });
      });

      it("asserts a parent's lease (lease_lost otherwise); the version is reported first", async () => {
        const parent = await spawn('parent');
        const leased = await advance(parent, {
          fencingSeq: 4,
          lease: { turnId: 'turn_p', leaseExpiresAt: at(5), fencingToken: 4 },
        });
        const child = await spawn('child');
        const held = {
          kind: 'assertLease' as const,
          tenant: 'acme',
          sessionKey: 'parent',
          turnId: 'turn_p',
          fencingToken: 4,
        };
        const childAfter = await advance(child, { turnCount: 1 }, [held]);
        for (const lost of [
          { ...held, fencingToken: 3 },
          { ...held, turnId: 'turn_q' },
          { ...held, sessionKey: 'nobody' },
        ]) {
          const next = step(childAfter);
          expect(await store.transition(childAfter, next.after, next.audit, [], [lost])).toEqual({
            ok: false,
            reason: 'lease_lost',
          });
        }
        const stale = step(child);
        expect(await store.transition(child, stale.after, stale.audit, [], [{ ...held, fencingToken: 3 }])).toEqual({
          ok: false,
          reason: 'version',
        });
        expect(await store.get('acme', 'child')).toEqual(childAfter);
        expect(await store.get('acme', 'parent')).toEqual(leased);
      });

      it('reserves turn slots only below max (turn_limit) and releases them', async () => {
        const one = await spawn('s1');
        const two = await spawn('s2');
        const oneAfter = await advance(one, {}, [{ kind: 'reserveTurnSlot', agent: 'a', max: 1 }]);
        const next = step(two);
        expect(
          await store.transition(two, next.after, next.audit, [], [{ kind: 'reserveTurnSlot', agent: 'a', max: 1 }]),
        ).toEqual({
          ok: false,
          reason: 'turn_limit',
        });
        expect((await store.counters(['a'])).agents.a!.runningTurns).toBe(1);
        await advance(oneAfter, {}, [], [{ agent: 'a', runningTurns: -1 }]);
        await advance(two, {}, [{ kind: 'reserveTurnSlot', agent: 'a', max: 1 }]);
        expect((await store.counters(['a'])).agents.a!.runningTurns).toBe(1);
      });

      it('never takes a counter below zero: the release is refused as a broken invariant, nothing lands', async () => {
        const thread = await spawn('neg');
        const next = step(thread);
        await expect(
          store.transition(thread, next.after, next.audit, [{ agent: 'a', runningTurns: -1 }]),
        ).rejects.toThrow();
        const other = step(thread);
        await expect(
          store.transition(thread, other.after, other.audit, [{ agent: 'zed', activeThreads: -1 }]),
        ).rejects.toThrow();
        expect(await store.get('acme', 'neg')).toEqual(thread);
        expect(await store.counters(['a'])).toMatchObject({
          agents: { a: { activeThreads: 1, runningTurns: 0 } },
          activeThreads: 1,
        });
        expect(await store.auditTrail('acme', 'neg', thread.threadId)).toHaveLength(1);
      });

      it('refuses a transaction that touches one item twice', async () => {
        const thread = await spawn('twice');
        const next = step(thread);
        await expect(
          store.transition(
            thread,
            next.after,
            next.audit,
            [{ agent: 'a', runningTurns: 1 }],
            [{ kind: 'reserveTurnSlot', agent: 'a', max: 5 }],
          ),
        ).rejects.toThrow();
        expect(await store.get('acme', 'twice')).toEqual(thread);
      });
    });

    describe('messages', () => {
      async function withMessages(sessionKey: string, count: number, createdAt = (seq: number) => at(seq)) {
        const thread = await spawn(sessionKey);
        const writes: ThreadWrite[] = [];
        for (let seq = 1; seq <= count; seq += 1)
          writes.push({ kind: 'putMessage', message: messageOf(seq, createdAt(seq)) });
        return advance(thread, { messageSeq: count }, writes);
      }
      const seqs = (messages: Message[]) => messages.map((message) => message.seq);

      it('reads after a seq oldest first, and the latest above a floor newest first, within limits', async () => {
        await withMessages('m', 12);
        expect(seqs(await store.messagesAfter('acme', 'm', 0, 100))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        expect(seqs(await store.messagesAfter('acme', 'm', 9, 100))).toEqual([10, 11, 12]);
        expect(seqs(await store.messagesAfter('acme', 'm', 2, 3))).toEqual([3, 4, 5]);
        expect(seqs(await store.messagesAfter('acme', 'm', 12, 5))).toEqual([]);
        expect(seqs(await store.latestMessages('acme', 'm', 0, 4))).toEqual([12, 11, 10, 9]);
        expect(seqs(await store.latestMessages('acme', 'm', 10, 4))).toEqual([12, 11]);
        expect(await store.messagesAfter('acme', 'm', 0, 1)).toEqual([messageOf(1, at(1))]);
        expect(await store.messagesAfter('acme', 'other', 0, 10)).toEqual([]);
      });

      it('deletes listed messages and trims from the oldest end', async () => {
        await withMessages('d', 10);
        await store.deleteMessages('acme', 'd', [2, 4, 99]);
        expect(seqs(await store.messagesAfter('acme', 'd', 0, 100))).toEqual([1, 3, 5, 6, 7, 8, 9, 10]);
        await store.trimMessages('acme', 'd', 5);
        expect(seqs(await store.messagesAfter('acme', 'd', 0, 100))).toEqual([6, 7, 8, 9, 10]);
        await store.trimMessages('acme', 'd', 0);
        expect(seqs(await store.messagesAfter('acme', 'd', 0, 100))).toEqual([6, 7, 8, 9, 10]);
        // Below keepFromSeq: at most `limit` per call, the next call continues.
        expect(await store.trimHistory('acme', 'd', { keepFromSeq: 9, olderThan: at(0), limit: 2 })).toBe(2);
        expect(seqs(await store.messagesAfter('acme', 'd', 0, 100))).toEqual([8, 9, 10]);
        expect(await store.trimHistory('acme', 'd', { keepFromSeq: 9, olderThan: at(0), limit: 10 })).toBe(1);
        // Created before olderThan (message n was created at minute n).
        expect(await store.trimHistory('acme', 'd', { keepFromSeq: 0, olderThan: at(10), limit: 10 })).toBe(1);
        expect(seqs(await store.messagesAfter('acme', 'd', 0, 100))).toEqual([10]);
        expect(await store.trimHistory('acme', 'd', { keepFromSeq: 0, olderThan: at(0), limit: 10 })).toBe(0);
      });
    });

    describe('listByTenant', () => {
      it('pages newest first by (createdAt, sessionKey), with more and an after position; other tenants apart', async () => {
        for (let i = 0; i < 5; i += 1) await spawn(`k${i}`, { createdAt: at(i), lastActiveAt: at(i) });
        await spawn('k-same', { createdAt: at(4), lastActiveAt: at(4) });
        const ended = await spawn('gone', { createdAt: at(2), lastActiveAt: at(2) });
        await advance(ended, { status: 'terminated' }, [], [{ agent: 'a', activeThreads: -1 }]);
        await spawn('g', { tenant: 'globex', createdAt: at(9) });
        const keysOf = (threads: Thread[]) => threads.map((thread) => thread.sessionKey);

        const first = await store.listByTenant('acme', { pageSize: 3 });
        expect(keysOf(first.threads)).toEqual(['k4', 'k-same', 'k3']);
        expect(first.more).toBe(true);
        const last = first.threads.at(-1)!;
        const second = await store.listByTenant('acme', {
          pageSize: 3,
          after: { createdAt: last.createdAt, sessionKey: last.sessionKey },
        });
        expect(keysOf(second.threads)).toEqual(['k2', 'gone', 'k1']);
        expect(second.threads[1]!.status).toBe('terminated');
        const rest = await store.listByTenant('acme', { pageSize: 3, after: { createdAt: at(1), sessionKey: 'k1' } });
        expect(rest).toMatchObject({ more: false });
        expect(keysOf(rest.threads)).toEqual(['k0']);
        // A page that ends exactly at the last thread still says more (a LastEvaluatedKey), the next is empty.
        const exact = await store.listByTenant('acme', { pageSize: 7 });
        expect(exact).toMatchObject({ more: true });
        expect(exact.threads).toHaveLength(7);
        expect(
          await store.listByTenant('acme', { pageSize: 7, after: { createdAt: at(0), sessionKey: 'k0' } }),
        ).toEqual({
          threads: [],
          more: false,
        });
        expect(keysOf((await store.listByTenant('globex', { pageSize: 10 })).threads)).toEqual(['g']);
      });
    });

    describe('live index', () => {
      /** Every live thread of a shard in index order, read a page of `pageSize` at a time. */
      async function walkShard(shard: number, pageSize: number, activeBefore?: string): Promise<Thread[]> {
        const seen: Thread[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listLive(shard, { pageSize, cursor, ...(activeBefore ? { activeBefore } : {}) });
          expect(page.threads.length).toBeLessThanOrEqual(pageSize);
          seen.push(...page.threads);
          cursor = page.cursor;
        } while (cursor);
        return seen;
      }
      async function everyShard(pageSize: number, activeBefore?: string): Promise<Thread[][]> {
        const shards: Thread[][] = [];
        for (let shard = 0; shard < INDEX_SHARDS; shard += 1)
          shards.push(await walkShard(shard, pageSize, activeBefore));
        return shards;
      }

      it('holds live threads (and pending deletions) once each, per shard least recently active first, with activeBefore', async () => {
        for (let i = 0; i < 24; i += 1) await spawn(`live-${i}`, { lastActiveAt: at(30 - i) });
        const ended = await spawn('ended', { lastActiveAt: at(1) });
        await advance(ended, { status: 'terminated' }, [], [{ agent: 'a', activeThreads: -1 }]);
        const pending = await spawn('pending', { lastActiveAt: at(2) });
        await advance(pending, { status: 'terminated', destroyPending: true }, [], [{ agent: 'a', activeThreads: -1 }]);

        const shards = await everyShard(2);
        const all = shards.flat().map((thread) => thread.sessionKey);
        expect(all.sort()).toEqual([...Array.from({ length: 24 }, (_, i) => `live-${i}`), 'pending'].sort());
        expect(shards.filter((shard) => shard.length > 0).length).toBeGreaterThan(1);
        for (const shard of shards) {
          const times = shard.map((thread) => thread.lastActiveAt);
          expect(times).toEqual([...times].sort());
        }
        // One page per shard gives the same as pages of 2.
        expect((await everyShard(100)).map((shard) => shard.map((t) => t.sessionKey))).toEqual(
          shards.map((shard) => shard.map((t) => t.sessionKey)),
        );
        // Only those active before: live-20..live-23 are at minutes 10..7, pending at 2.
        const idle = (await everyShard(3, at(11))).flat().map((thread) => thread.sessionKey);
        expect(idle.sort()).toEqual(['live-20', 'live-21', 'live-22', 'live-23', 'pending']);
        // A thread active exactly at activeBefore is not before it.
        expect((await everyShard(3, at(7))).flat().map((thread) => thread.sessionKey)).toEqual(['pending']);
      });

      it('liveCursorOf resumes right after the thread; a cursor it cannot use starts the shard over', async () => {
        for (let i = 0; i < 30; i += 1) await spawn(`c-${i}`, { lastActiveAt: at(i) });
        const shards = await everyShard(100);
        const shard = shards.findIndex((threads) => threads.length >= 3);
        const threads = shards[shard]!;
        const resumed = await store.listLive(shard, { pageSize: 100, cursor: store.liveCursorOf(threads[0]!) });
        expect(resumed.threads.map((t) => t.sessionKey)).toEqual(threads.slice(1).map((t) => t.sessionKey));
        const fromLast = await store.listLive(shard, { pageSize: 100, cursor: store.liveCursorOf(threads.at(-1)!) });
        expect(fromLast.threads).toEqual([]);
        // A page cursor resumes too.
        const page = await store.listLive(shard, { pageSize: 1 });
        expect(page.cursor).toEqual(expect.any(String));
        const after = await store.listLive(shard, { pageSize: 1, cursor: page.cursor! });
        expect(after.threads.map((t) => t.sessionKey)).toEqual([threads[1]!.sessionKey]);
        // Beyond activeBefore (a walk over a wider range before), or not a cursor at all: the shard from its start.
        const beyond = store.liveCursorOf(threads.at(-1)!);
        const narrow = await store.listLive(shard, {
          pageSize: 100,
          cursor: beyond,
          activeBefore: threads[1]!.lastActiveAt,
        });
        expect(narrow.threads.map((t) => t.sessionKey)).toEqual([threads[0]!.sessionKey]);
        expect((await store.listLive(shard, { pageSize: 100, cursor: 'not a cursor' })).threads).toHaveLength(
          threads.length,
        );
        const otherShard = (shard + 1) % INDEX_SHARDS;
        expect((await store.listLive(otherShard, { pageSize: 100, cursor: beyond })).threads).toEqual(
          shards[otherShard],
        );
      });

      it("reads every active thread's agent and lease consistently", async () => {
        const lease = { turnId: 'turn_1', leaseExpiresAt: at(5), fencingToken: 1 };
        const one = await spawn('r1');
        await advance(one, { lease, fencingSeq: 1 });
        await spawn('r2', { agent: 'b' });
        const ended = await spawn('r3');
        await advance(ended, { status: 'terminated', destroyPending: true }, [], [{ agent: 'a', activeThreads: -1 }]);
        const seen: { agent: string; lease?: unknown }[] = [];
        await store.liveThreadsConsistent((thread) => seen.push(thread));
        expect(seen.sort((x, y) => x.agent.localeCompare(y.agent))).toEqual([{ agent: 'a', lease }, { agent: 'b' }]);
      });
    });

    describe('counters', () => {
      it('counts changes, and repairs only a counter that did not change since it was read', async () => {
        expect(await store.counterVersions(['a'])).toEqual(new Map());
        // A counter never written: its observed changes are 0.
        expect(await store.repairCounters('fresh', { activeThreads: 2 }, 0)).toBe(true);
        expect((await store.counters(['fresh'])).agents.fresh).toEqual({
          activeThreads: 2,
          runningTurns: 0,
          timedOutTurns: 0,
        });
        const thread = await spawn('c');
        const versions = await store.counterVersions(['a', 'fresh', 'none']);
        expect(versions.get('a')).toBe(1);
        expect(versions.get('fresh')).toBe(1);
        expect(versions.get('')).toBe(1);
        expect(versions.has('none')).toBe(false);
        await advance(thread, {}, [], [{ agent: 'a', runningTurns: 1 }]);
        expect(await store.repairCounters('a', { activeThreads: 5, runningTurns: 0 }, versions.get('a')!)).toBe(false);
        expect((await store.counters(['a'])).agents.a).toMatchObject({ activeThreads: 1, runningTurns: 1 });
        const now = await store.counterVersions(['a']);
        expect(now.get('a')).toBe(2);
        expect(await store.repairCounters('a', { activeThreads: 5, runningTurns: 0 }, now.get('a')!)).toBe(true);
        expect((await store.counters(['a'])).agents.a).toEqual({ activeThreads: 5, runningTurns: 0, timedOutTurns: 0 });
        expect((await store.counterVersions(['a'])).get('a')).toBe(3);
        // runningTurns left out is left alone; the deployment's counter is the undefined agent.
        expect(await store.repairCounters('a', { activeThreads: 1 }, 3)).toBe(true);
        expect((await store.counters(['a'])).agents.a).toMatchObject({ activeThreads: 1, runningTurns: 0 });
        expect(await store.repairCounters(undefined, { activeThreads: 7 }, 0)).toBe(false);
        expect(await store.repairCounters(undefined, { activeThreads: 7 }, 1)).toBe(true);
        expect((await store.counters([])).activeThreads).toBe(7);
      });
    });

    describe('audit, destroy and queued turns', () => {
      it("keeps each incarnation's audit trail in order, and destroy keeps it", async () => {
        const thread = await spawn('au');
        let current = thread;
        for (let i = 0; i < 11; i += 1) current = await advance(current, { turnCount: i + 1 });
        const ended = await advance(
          current,
          { status: 'terminated', terminatedAt: at(1) },
          [],
          [{ agent: 'a', activeThreads: -1 }],
        );
        const trail = await store.auditTrail('acme', 'au', thread.threadId);
        expect(trail.map((entry) => entry.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
        expect(trail.at(-1)!.hash).toBe(ended.auditHash);
        await store.destroy('acme', 'au', thread.threadId);
        expect(await store.get('acme', 'au')).toBeUndefined();
        expect(await store.auditTrail('acme', 'au', thread.threadId)).toEqual(trail);
        // The key respawns as a new incarnation with its own trail.
        const again = await spawn('au', { createdAt: at(2) });
        expect(again.threadId).not.toBe(thread.threadId);
        expect(await store.auditTrail('acme', 'au', again.threadId)).toHaveLength(1);
        expect(await store.auditTrail('acme', 'au', thread.threadId)).toEqual(trail);
      });

      it("destroys a terminated thread's items, the thread item only for its own incarnation; idempotent", async () => {
        const thread = await spawn('ds');
        const filled = await advance(thread, { messageSeq: 2, queueSeq: 1, queuedTurns: 1 }, [
          { kind: 'putTurn', turn: turnOf(thread, 'turn_1', 'succeeded') },
          { kind: 'putMessage', message: messageOf(1) },
          { kind: 'putMessage', message: messageOf(2) },
          { kind: 'enqueue', queueSeq: 1, turnId: 'turn_2' },
        ]);
        const ended = await advance(filled, { status: 'terminated' }, [], [{ agent: 'a', activeThreads: -1 }]);
        await store.destroy('acme', 'ds', 'th_another');
        expect(await store.get('acme', 'ds')).toEqual(ended);
        expect(await store.messagesAfter('acme', 'ds', 0, 10)).toEqual([]);
        expect(await store.getTurn('acme', 'ds', 'turn_1')).toBeUndefined();
        expect(await store.queueHead('acme', 'ds')).toBeUndefined();
        await store.destroy('acme', 'ds', thread.threadId);
        expect(await store.get('acme', 'ds')).toBeUndefined();
        await store.destroy('acme', 'ds', thread.threadId);
        // An active thread's item is never deleted.
        await spawn('alive');
        await store.destroy('acme', 'alive', spawnOf('alive').thread.threadId);
        expect(await store.get('acme', 'alive')).toBeDefined();
      });

      it('fails every queued turn and empties the queue, once', async () => {
        const thread = await spawn('fq');
        const queued = await advance(thread, { queueSeq: 3, queuedTurns: 3 }, [
          { kind: 'putTurn', turn: turnOf(thread, 'turn_1', 'queued') },
          { kind: 'putTurn', turn: turnOf(thread, 'turn_2', 'queued') },
          { kind: 'putTurn', turn: turnOf(thread, 'turn_3', 'queued') },
          { kind: 'enqueue', queueSeq: 1, turnId: 'turn_1' },
          { kind: 'enqueue', queueSeq: 2, turnId: 'turn_2' },
          { kind: 'enqueue', queueSeq: 3, turnId: 'turn_3' },
        ]);
        await advance(queued, { status: 'terminated' }, [], [{ agent: 'a', activeThreads: -1 }]);
        expect(await store.failQueuedTurns('acme', 'fq', 'terminated', at(4))).toBe(3);
        expect(await store.queueHead('acme', 'fq')).toBeUndefined();
        for (const turnId of ['turn_1', 'turn_2', 'turn_3'])
          expect(await store.getTurn('acme', 'fq', turnId)).toMatchObject({
            status: 'failed',
            error: 'terminated',
            endedAt: at(4),
          });
        expect(await store.failQueuedTurns('acme', 'fq', 'terminated', at(5))).toBe(0);
        expect(await store.getTurn('acme', 'fq', 'turn_1')).toMatchObject({ endedAt: at(4) });
      });
    });
  });
}
