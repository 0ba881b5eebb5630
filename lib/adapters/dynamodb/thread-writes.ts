import type { ThreadWrite, TransitionRefusal } from '../../threads/ports.js';
import type { CounterItems } from './counters.js';
import { keys } from './keys.js';
import type { TransactItems } from './transact.js';

/** What a refused item of a transition means: a reason the caller handles, or a broken invariant (thrown). */
export type ItemRefusal = TransitionRefusal | 'invariant';

/** What a write's transaction item is built from: the table, the thread's partition and the counters. */
export interface WriteContext {
  tableName: string;
  pk: string;
  counterItems: CounterItems;
}

/** How one kind of write is stored: its transaction item, and what its failed condition means. */
interface WriteRule<K extends ThreadWrite['kind']> {
  refusal: ItemRefusal;
  item(write: Extract<ThreadWrite, { kind: K }>, context: WriteContext): TransactItems[number];
}

/** Every transition write kind: its transaction item and its refusal reason, side by side. */
export const THREAD_WRITES: { [K in ThreadWrite['kind']]: WriteRule<K> } = {
  putMessage: {
    refusal: 'invariant',
    item: ({ message }, { tableName, pk }) => ({
      Put: {
        TableName: tableName,
        Item: { pk, sk: keys.message(message.seq), kind: 'message', ...message },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    }),
  },
  // The idempotency guard: a repeated submission computes the same turnId and is refused here.
  putTurn: {
    refusal: 'turn_exists',
    item: ({ turn }, { tableName, pk }) => ({
      Put: {
        TableName: tableName,
        Item: { pk, sk: keys.turn(turn.turnId), kind: 'turn', ...turn },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    }),
  },
  // A turn moves forward once: two finishers (a late execution and a takeover) cannot both win.
  updateTurn: {
    refusal: 'turn_state',
    item: ({ turn, expected }, { tableName, pk }) => ({
      Put: {
        TableName: tableName,
        Item: { pk, sk: keys.turn(turn.turnId), kind: 'turn', ...turn },
        ConditionExpression: '#status = :expected',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':expected': expected },
      },
    }),
  },
  failTurn: {
    refusal: 'turn_state',
    item: ({ turnId, error, at }, { tableName, pk }) => ({
      Update: {
        TableName: tableName,
        Key: { pk, sk: keys.turn(turnId) },
        UpdateExpression: 'SET #status = :failed, #error = :error, endedAt = :at',
        // Only a turn still running can be failed this way; a finished turn keeps its outcome.
        ConditionExpression: '#status = :running',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: { ':failed': 'failed', ':running': 'running', ':error': error, ':at': at },
      },
    }),
  },
  enqueue: {
    refusal: 'invariant',
    item: ({ queueSeq, turnId }, { tableName, pk }) => ({
      Put: {
        TableName: tableName,
        Item: { pk, sk: keys.queue(queueSeq), kind: 'queue', queueSeq, turnId },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    }),
  },
  dequeue: {
    refusal: 'invariant',
    item: ({ queueSeq }, { tableName, pk }) => ({
      Delete: {
        TableName: tableName,
        Key: { pk, sk: keys.queue(queueSeq) },
        ConditionExpression: 'attribute_exists(pk)',
      },
    }),
  },
  // A sub-agent's writes land only while its parent turn still holds the parent's lease.
  assertLease: {
    refusal: 'lease_lost',
    item: ({ tenant, sessionKey, turnId, fencingToken }, { tableName }) => ({
      ConditionCheck: {
        TableName: tableName,
        Key: keys.thread(tenant, sessionKey),
        ConditionExpression: 'lease.turnId = :turnId AND lease.fencingToken = :fencingToken',
        ExpressionAttributeValues: { ':turnId': turnId, ':fencingToken': fencingToken },
      },
    }),
  },
  reserveTurnSlot: {
    refusal: 'turn_limit',
    item: ({ agent, max }, { counterItems }) => counterItems.reserveTurn(agent, max),
  },
};

/** The transaction item of one write and its refusal reason, read from THREAD_WRITES. */
export function writeItem(
  write: ThreadWrite,
  context: WriteContext,
): { item: TransactItems[number]; refusal: ItemRefusal } {
  const rule = THREAD_WRITES[write.kind] as WriteRule<ThreadWrite['kind']>;
  return { item: rule.item(write, context), refusal: rule.refusal };
}
