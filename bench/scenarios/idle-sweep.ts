import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ensureTable } from '../../infra/local/ensure-table.js';
import { createDocumentClient } from '../../lib/adapters/dynamodb/client.js';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import { parseConfig } from '../../lib/config/load.js';
import { sweepIdleThreads } from '../../lib/maintenance/idle-sweep.js';
import type { Thread } from '../../lib/threads/model.js';
import { ThreadService } from '../../lib/threads/service.js';
import { TurnService } from '../../lib/turns/service.js';
import { benchAgent } from '../config.js';
import { round } from '../stats.js';

/** Table sizes (live threads) swept, each on a fresh table. */
const SIZES = [200, 1_000, 4_000];
/** The fixed share of the threads that is idle (inactive for an hour, the timeout is 30 minutes). */
const IDLE_SHARE = 0.1;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Idle sweep: items read and time versus table size. The sweep (lib/maintenance/idle-sweep.ts, what
 * the scheduled handler runs) queries the sparse, sharded index by lastActiveAt, so it should read
 * the idle threads only, whatever the number of live ones.
 */
export async function benchIdleSweep(endpoint: string) {
  const bySize: Record<
    string,
    {
      threads: number;
      idle: number;
      itemsRead: number;
      threadsCleaned: number;
      durationMs: number;
      dynamoRequests: number;
      msPerCleanedThread: number;
      seedMs: number;
    }
  > = {};
  for (const size of SIZES) bySize[String(size)] = await sweepOnce(endpoint, size, Math.round(size * IDLE_SHARE));
  return { idleShare: IDLE_SHARE, bySize };
}

/** Seeds a fresh table with `size` live threads, `idle` of them inactive for an hour, and sweeps once. */
async function sweepOnce(endpoint: string, size: number, idle: number) {
  const tableName = `bench-sweep-${size}-${Date.now()}`;
  const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials });
  await ensureTable(raw, tableName);
  const client = createDocumentClient({ endpoint, region: 'us-east-1', credentials });
  let requests = 0;
  client.middlewareStack.add(
    (next) => (args) => {
      requests += 1;
      return next(args);
    },
    {
      step: 'initialize',
      name: 'benchSweepCounter',
    },
  );
  const store = new DynamoThreadStore(client, tableName);
  const config = parseConfig({
    threadManagement: { maxThreads: 100_000 },
    agents: { plain: benchAgent(['offline'], { maxActiveThreads: 100_000 }) },
  });

  // Seeding: the store's own item shape (index keys included), 25 per BatchWriteItem.
  const seedStarted = performance.now();
  const now = Date.now();
  const items = Array.from({ length: size }, (_, i) => {
    const at = new Date(i < idle ? now - 3_600_000 : now - (i % 600) * 1000).toISOString();
    const thread: Thread = {
      tenant: 'bench',
      sessionKey: `t-${i}`,
      threadId: `thr_${i}`,
      agent: 'plain',
      mode: 'thread-bound',
      status: 'active',
      generation: 1,
      version: 1,
      createdAt: at,
      lastActiveAt: at,
      turnCount: 0,
      messageSeq: 0,
      memoryFloorSeq: 0,
      queueSeq: 0,
      queuedTurns: 0,
      fencingSeq: 0,
      metadata: {},
      auditSeq: 0,
      auditHash: '0'.repeat(64),
    };
    return store.threadItem(thread);
  });
  await Promise.all(
    Array.from({ length: 4 }, async (_, lane) => {
      for (let i = lane * 25; i < items.length; i += 100) {
        let batch = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
        while (batch.length > 0) {
          const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: batch } }));
          batch = (result.UnprocessedItems?.[tableName] ?? []) as typeof batch;
        }
      }
    }),
  );
  for (const pk of ['AGENT#plain', 'DEPLOYMENT']) {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk, sk: 'COUNTERS' },
        UpdateExpression: 'SET activeThreads = :n',
        ExpressionAttributeValues: { ':n': size },
      }),
    );
  }
  const seedMs = performance.now() - seedStarted;

  requests = 0;
  const threads = new ThreadService(config, store);
  const turns = new TurnService(config, store, { start: async () => undefined });
  const report = await sweepIdleThreads({ config, store, threads, turns });
  client.destroy();
  raw.destroy();
  return {
    threads: size,
    idle,
    itemsRead: report.itemsRead,
    threadsCleaned: report.threadsCleaned,
    durationMs: report.durationMs,
    dynamoRequests: requests,
    msPerCleanedThread: round(report.durationMs / Math.max(1, report.threadsCleaned)),
    seedMs: round(seedMs),
  };
}
