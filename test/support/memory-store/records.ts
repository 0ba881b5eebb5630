import { keys } from '../../../lib/adapters/dynamodb/keys.js';
import { LIMIT_RETRY_AFTER_SECONDS } from '../../../lib/adapters/dynamodb/thread-store.js';
import type { AuditEntry } from '../../../lib/audit/chain.js';
import { LimitReachedError, ThreadError } from '../../../lib/threads/errors.js';
import type { Thread } from '../../../lib/threads/model.js';
import type {
  CounterDelta,
  SpawnLimits,
  ThreadPage,
  ThreadPosition,
  ThreadRecords,
  ThreadWrite,
  TransitionOutcome,
  TransitionRefusal,
} from '../../../lib/threads/ports.js';
import { refusalOf } from '../../../lib/threads/refusals.js';
import type { Turn } from '../../../lib/turns/model.js';
import { MemoryCounterItems } from './counters.js';
import { compare, type MemoryTable, stripKind } from './table.js';
import { type Operation, transact } from './transaction.js';

const META = 'META';

/** The context a write's operation is built in: the table, the thread's partition and the counters. */
interface WriteContext {
  table: MemoryTable;
  pk: string;
  counterItems: MemoryCounterItems;
}

/** A write's operation and what its failed condition means (the DynamoDB adapter's THREAD_WRITES, in memory). */
const WRITES: {
  [K in ThreadWrite['kind']]: {
    refusal: TransitionRefusal | 'invariant';
    operation(write: Extract<ThreadWrite, { kind: K }>, context: WriteContext): Operation;
  };
} = {
  putMessage: {
    refusal: 'invariant',
    operation: ({ message }, { table, pk }) =>
      putNew(table, pk, keys.message(message.seq), { kind: 'message', ...message }),
  },
  putTurn: {
    refusal: 'turn_exists',
    operation: ({ turn }, { table, pk }) => putNew(table, pk, keys.turn(turn.turnId), { kind: 'turn', ...turn }),
  },
  updateTurn: {
    refusal: 'turn_state',
    operation: ({ turn, expected }, { table, pk }) => {
      const sk = keys.turn(turn.turnId);
      return {
        pk,
        sk,
        check: () => table.get(pk, sk)?.status === expected,
        apply: () => table.put(pk, sk, { kind: 'turn', ...turn }),
      };
    },
  },
  failTurn: {
    refusal: 'turn_state',
    operation: ({ turnId, error, at }, { table, pk }) => {
      const sk = keys.turn(turnId);
      return {
        pk,
        sk,
        check: () => table.get(pk, sk)?.status === 'running',
        apply: () => table.put(pk, sk, { ...table.get(pk, sk), status: 'failed', error, endedAt: at }),
      };
    },
  },
  enqueue: {
    refusal: 'invariant',
    operation: ({ queueSeq, turnId }, { table, pk }) =>
      putNew(table, pk, keys.queue(queueSeq), { kind: 'queue', queueSeq, turnId }),
  },
  dequeue: {
    refusal: 'invariant',
    operation: ({ queueSeq }, { table, pk }) => {
      const sk = keys.queue(queueSeq);
      return { pk, sk, check: () => table.get(pk, sk) !== undefined, apply: () => table.delete(pk, sk) };
    },
  },
  assertLease: {
    refusal: 'lease_lost',
    operation: ({ tenant, sessionKey, turnId, fencingToken }, { table }) => {
      const { pk, sk } = keys.thread(tenant, sessionKey);
      return {
        pk,
        sk,
        check: () => {
          const lease = table.get(pk, sk)?.lease as Thread['lease'];
          return lease?.turnId === turnId && lease.fencingToken === fencingToken;
        },
        apply: () => undefined,
      };
    },
  },
  reserveTurnSlot: {
    refusal: 'turn_limit',
    operation: ({ agent, max }, { counterItems }) => counterItems.bounded(agent, 'runningTurns', max),
  },
};

/** A put only while the item does not exist (attribute_not_exists(pk)). */
function putNew(table: MemoryTable, pk: string, sk: string, item: Record<string, unknown>): Operation {
  return { pk, sk, check: () => table.get(pk, sk) === undefined, apply: () => table.put(pk, sk, item) };
}

/** The append of an audit entry to the thread's partition; entries are never overwritten. */
export function auditOperation(table: MemoryTable, pk: string, entry: AuditEntry): Operation {
  return putNew(table, pk, keys.audit(entry.chain, entry.seq), { kind: 'audit', ...entry });
}

/** ThreadRecords in memory, with DynamoDB's conditions and all-or-nothing transitions. */
export class MemoryThreadRecords implements ThreadRecords {
  private readonly counterItems: MemoryCounterItems;

  constructor(private readonly table: MemoryTable) {
    this.counterItems = new MemoryCounterItems(table);
  }

  async create(thread: Thread, audit: AuditEntry, limits: SpawnLimits): Promise<void> {
    const pk = keys.threadPk(thread.tenant, thread.sessionKey);
    const outcome = transact([
      this.counterItems.bounded(thread.agent, 'activeThreads', limits.maxActiveThreads),
      this.counterItems.bounded(undefined, 'activeThreads', limits.maxThreads),
      putNew(this.table, pk, META, { kind: 'thread', ...thread }),
      auditOperation(this.table, pk, audit),
    ]);
    if (outcome.ok) return;
    const failed = new Set(outcome.failedConditions);
    if (failed.has(2))
      throw new ThreadError('thread_exists', `a thread with sessionKey "${thread.sessionKey}" already exists`, {
        sessionKey: thread.sessionKey,
      });
    if (failed.has(0))
      throw new LimitReachedError('maxActiveThreads', limits.maxActiveThreads, LIMIT_RETRY_AFTER_SECONDS, thread.agent);
    if (failed.has(1)) throw new LimitReachedError('maxThreads', limits.maxThreads, LIMIT_RETRY_AFTER_SECONDS);
    throw new Error(`spawn transaction refused by condition(s) ${[...failed].join(', ')}`);
  }

  async get(tenant: string, sessionKey: string): Promise<Thread | undefined> {
    const item = this.table.get(keys.threadPk(tenant, sessionKey), META);
    return item ? stripKind<Thread>(item) : undefined;
  }

  async transition(
    before: Thread,
    after: Thread,
    audit: AuditEntry | undefined,
    counters: CounterDelta[],
    writes: ThreadWrite[] = [],
  ): Promise<TransitionOutcome> {
    const { table, counterItems } = this;
    const pk = keys.threadPk(after.tenant, after.sessionKey);
    const planned: { operation: Operation; refusal: TransitionRefusal | 'invariant' }[] = [
      {
        operation: {
          pk,
          sk: META,
          // Lost updates: only on the version read, of the same incarnation, and never once terminated.
          check: () => {
            const stored = table.get(pk, META);
            return (
              stored?.version === before.version &&
              stored.threadId === before.threadId &&
              stored.status !== 'terminated'
            );
          },
          apply: () => table.put(pk, META, { kind: 'thread', ...after }),
        },
        refusal: 'version',
      },
      ...(audit ? [{ operation: auditOperation(table, pk, audit), refusal: 'invariant' as const }] : []),
      ...counterItems.apply(counters).map((operation) => ({ operation, refusal: 'invariant' as const })),
      ...writes.map((write) => {
        const rule = WRITES[write.kind] as (typeof WRITES)[ThreadWrite['kind']];
        return { operation: rule.operation(write as never, { table, pk, counterItems }), refusal: rule.refusal };
      }),
    ];
    const outcome = transact(planned.map(({ operation }) => operation));
    if (outcome.ok) return { ok: true };
    const reason = refusalOf(outcome.failedConditions.map((index) => planned[index]!.refusal));
    if (reason) return { ok: false, reason };
    throw new Error(
      `thread transition refused by condition(s) ${outcome.failedConditions.join(', ')} (counter, audit, message or queue invariant)`,
    );
  }

  async getTurn(tenant: string, sessionKey: string, turnId: string): Promise<Turn | undefined> {
    const item = this.table.get(keys.threadPk(tenant, sessionKey), keys.turn(turnId));
    return item ? stripKind<Turn>(item) : undefined;
  }

  async queueHead(tenant: string, sessionKey: string): Promise<{ queueSeq: number; turnId: string } | undefined> {
    const [head] = this.table.query(keys.threadPk(tenant, sessionKey), (sk) => sk.startsWith('QUEUE#'));
    return head ? { queueSeq: Number(head.item.queueSeq), turnId: String(head.item.turnId) } : undefined;
  }

  async destroy(tenant: string, sessionKey: string, threadId: string): Promise<void> {
    const pk = keys.threadPk(tenant, sessionKey);
    for (const { sk } of this.table.query(pk, (sk) => sk !== META && !sk.startsWith('AUDIT#')))
      this.table.delete(pk, sk);
    const stored = this.table.get(pk, META);
    // Only the terminated incarnation this call was destroying, never a newer one.
    if (stored?.status === 'terminated' && stored.threadId === threadId) this.table.delete(pk, META);
  }

  async failQueuedTurns(tenant: string, sessionKey: string, error: string, at: string): Promise<number> {
    const pk = keys.threadPk(tenant, sessionKey);
    let failed = 0;
    for (let head = await this.queueHead(tenant, sessionKey); head; head = await this.queueHead(tenant, sessionKey)) {
      const turnSk = keys.turn(head.turnId);
      const queueSk = keys.queue(head.queueSeq);
      const outcome = transact([
        // Unconditional, like DynamoDB's UpdateItem: a missing turn becomes an item of just these attributes.
        {
          pk,
          sk: turnSk,
          apply: () =>
            this.table.put(pk, turnSk, { ...this.table.get(pk, turnSk), status: 'failed', error, endedAt: at }),
        },
        {
          pk,
          sk: queueSk,
          check: () => this.table.get(pk, queueSk) !== undefined,
          apply: () => this.table.delete(pk, queueSk),
        },
      ]);
      if (outcome.ok) failed += 1;
    }
    return failed;
  }

  async listByTenant(tenant: string, options: { after?: ThreadPosition; pageSize: number }): Promise<ThreadPage> {
    requirePageSize(options.pageSize);
    const from = options.after && keys.tenantSort(options.after.createdAt, options.after.sessionKey);
    const matching = this.table
      .scan()
      .filter(({ sk, item }) => sk === META && item.kind === 'thread' && item.tenant === tenant)
      .map(({ item }) => ({ sort: keys.tenantSort(String(item.createdAt), String(item.sessionKey)), item }))
      .filter(({ sort }) => from === undefined || compare(sort, from) < 0)
      .sort((a, b) => compare(b.sort, a.sort));
    const page = matching.slice(0, options.pageSize);
    // DynamoDB returns a LastEvaluatedKey whenever a page reaches its Limit, even with nothing after it.
    return { threads: page.map(({ item }) => stripKind<Thread>(item)), more: page.length === options.pageSize };
  }
}

/** DynamoDB refuses a Limit below 1 (a ValidationException). */
export function requirePageSize(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`ValidationException: Limit must be at least 1 (got ${limit})`);
}
