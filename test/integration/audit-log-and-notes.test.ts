import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { PartitionAuditLog, readChain } from '../../lib/adapters/dynamodb/audit-items.js';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { DynamoThreadNotes } from '../../lib/adapters/dynamodb/thread-notes.js';
import { verifyChain } from '../../lib/audit/verify.js';
import { ToolError } from '../../lib/tools/port.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';

// The two writes of this change that race outside a thread's turn order: appends to a chain whose
// head lives on its own item, and note writes fenced by the thread's lease.
let table: TestTable;

beforeAll(async () => {
  table = await createTestTable('chains');
});

describe('PartitionAuditLog', () => {
  it('30 concurrent appends to one chain (two writers) all land, in one unbroken chain, each counted once', async () => {
    const writers = [
      new PartitionAuditLog(table.client, table.tableName),
      new PartitionAuditLog(table.client, table.tableName),
    ];
    const pk = 'AGENT#racer';
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        writers[i % 2]!.append(
          pk,
          'AUDITHEAD',
          'agent:racer',
          { type: 'tool_denied', at: new Date(Date.UTC(2026, 10, 21, 10, 0, i)).toISOString(), data: { n: i } },
          { add: { toolDenials: 1 } },
        ),
      ),
    );
    const chain = await readChain(table.client, table.tableName, pk, 'agent:racer');
    expect(chain.map((entry) => entry.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(chain.map((entry) => entry.data.n)).size).toBe(30);
    expect(verifyChain(chain)).toBeUndefined();
    expect(await table.getItem(pk, 'AUDITHEAD')).toMatchObject({
      auditSeq: 30,
      toolDenials: 30,
      auditHash: chain.at(-1)!.hash,
    });
  });
});

describe('DynamoThreadNotes', () => {
  it('writes only while the writing turn holds the thread lease: a turn that lost it writes nothing', async () => {
    const notes = new DynamoThreadNotes(table.client, table.tableName);
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...keys.thread('t1', 'noted'), kind: 'thread', lease: { turnId: 'turn_current', fencingToken: 2 } },
      }),
    );
    await notes.write('t1', 'noted', 'turn_current', 'city', 'Paris', '2026-11-21T10:00:00Z');
    await expect(
      notes.write('t1', 'noted', 'turn_stale', 'city', 'Rome', '2026-11-21T10:00:01Z'),
    ).rejects.toBeInstanceOf(ToolError);
    expect(await notes.read('t1', 'noted', 'city')).toEqual([
      { key: 'city', value: 'Paris', updatedAt: '2026-11-21T10:00:00Z' },
    ]);
    // Scoped to the thread: another thread (or tenant) sees none of it.
    expect(await notes.read('t2', 'noted')).toEqual([]);
    expect(await notes.read('t1', 'other')).toEqual([]);
  });
});
