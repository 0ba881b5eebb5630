import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import { verifyChain } from '../../lib/audit/verify.js';
import type { Principal } from '../../lib/auth/api-keys.js';
import { parseConfig } from '../../lib/config/load.js';
import { ThreadError } from '../../lib/threads/errors.js';
import { ThreadService } from '../../lib/threads/service.js';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import { testConfig } from '../support/local-stack.js';

let table: TestTable;
let store: DynamoThreadStore;
const alice: Principal = { tenant: 'alice', admin: false, keyId: 'key_alice' };
const config = parseConfig(testConfig({ threadManagement: { maxThreads: 30 } }));

beforeAll(async () => {
  table = await createTestTable('service');
  store = new DynamoThreadStore(table.client, table.tableName);
});
afterAll(async () => table?.drop());

async function seed(tenant: string, sessionKey: string, sks: string[]) {
  for (const sk of sks)
    await table.client.send(
      new PutCommand({ TableName: table.tableName, Item: { pk: keys.threadPk(tenant, sessionKey), sk, kind: 'seed' } }),
    );
}

describe('ThreadService on DynamoDB Local', () => {
  it('records spawn, restart and terminate in one hash chain written with each change', async () => {
    const service = new ThreadService(config, store);
    const spawned = await service.spawn(alice, { agent: 'data', sessionKey: 'chain', metadata: { user: 'ann' } });
    await service.restart(alice, 'chain', { clearMemory: false });
    await service.terminate(alice, 'chain', { reason: 'done' });
    const trail = await store.auditTrail('alice', 'chain', spawned.threadId);
    expect(trail.map((e) => e.type)).toEqual(['thread_spawn', 'thread_restart', 'thread_terminate']);
    expect(trail.every((e) => e.tenant === 'alice' && e.actor === 'key_alice' && e.agent === 'data')).toBe(true);
    expect(trail[2]!.data).toMatchObject({ reason: 'done', destroyed: false });
    expect(verifyChain(trail)).toBeUndefined();
    const stored = await store.get('alice', 'chain');
    expect(stored).toMatchObject({ status: 'terminated', auditSeq: 3, auditHash: trail[2]!.hash, generation: 2 });
    // Terminated threads leave the sparse idle index.
    expect(await table.getItem(keys.threadPk('alice', 'chain'), 'META')).not.toHaveProperty('gsi2pk');
  });

  it('auto-destroy deletes the thread, its messages and turns, but keeps the audit trail', async () => {
    const service = new ThreadService(config, store);
    const spawned = await service.spawn(alice, { agent: 'main', sessionKey: 'doomed' });
    await seed('alice', 'doomed', [keys.message(1), keys.message(2), 'TURN#t1']);
    const result = await service.terminate(alice, 'doomed');
    expect(result).toMatchObject({ destroyed: true, changed: true });
    const left = (await table.scanAll()).filter((item) => item.pk === keys.threadPk('alice', 'doomed'));
    expect(left.map((item) => item.sk)).toEqual([keys.audit(spawned.threadId, 1), keys.audit(spawned.threadId, 2)]);
    await expect(service.get('alice', 'doomed')).rejects.toMatchObject({ code: 'thread_not_found' });
    // The key can be spawned again: a new incarnation with a new chain beside the old one.
    const again = await service.spawn(alice, { agent: 'main', sessionKey: 'doomed' });
    expect(again.threadId).not.toBe(spawned.threadId);
    expect(verifyChain(await store.auditTrail('alice', 'doomed', again.threadId))).toBeUndefined();
    await service.terminate(alice, 'doomed');
  });

  it('an interrupted destroy blocks a respawn of the key until a repeated DELETE finishes it', async () => {
    const service = new ThreadService(config, store);
    // A process that dies at its last delete (the thread item's), after everything else went.
    let crashed = false;
    const dying = new Proxy(table.client, {
      get: (target, property) =>
        property === 'send'
          ? async (command: unknown) => {
              if (command instanceof DeleteCommand && !crashed) {
                crashed = true;
                throw new Error('process died');
              }
              return target.send(command as never);
            }
          : Reflect.get(target, property),
    });
    const interrupted = new ThreadService(config, new DynamoThreadStore(dying, table.tableName));
    await interrupted.spawn(alice, { agent: 'main', sessionKey: 'half' });
    await seed('alice', 'half', [keys.message(1), 'TURN#t1', keys.queue(1)]);
    await expect(interrupted.terminate(alice, 'half')).rejects.toThrow('process died');
    expect(
      (await table.scanAll())
        .filter((i) => i.pk === keys.threadPk('alice', 'half'))
        .map((i) => String(i.sk).replace(/#.*/, '')),
    ).toEqual(['AUDIT', 'AUDIT', 'META']);
    await expect(service.spawn(alice, { agent: 'main', sessionKey: 'half' })).rejects.toMatchObject({
      code: 'thread_exists',
    });
    expect(await service.terminate(alice, 'half')).toMatchObject({ destroyed: true, changed: false });
    const left = (await table.scanAll()).filter((item) => item.pk === keys.threadPk('alice', 'half'));
    expect(left.every((item) => String(item.sk).startsWith('AUDIT#'))).toBe(true);
    const again = await service.spawn(alice, { agent: 'main', sessionKey: 'half' });
    expect(again.status).toBe('active');
    await service.terminate(alice, 'half');
  });

  it('refuses a write computed from an older incarnation at the same version number', async () => {
    const service = new ThreadService(config, store);
    await service.spawn(alice, { agent: 'main', sessionKey: 'reborn' });
    const old = (await store.get('alice', 'reborn'))!;
    await service.terminate(alice, 'reborn');
    await service.spawn(alice, { agent: 'main', sessionKey: 'reborn' });
    const current = (await store.get('alice', 'reborn'))!;
    expect(current.version).toBe(old.version);
    expect(await store.transition(old, { ...old, version: old.version + 1, turnCount: 99 }, undefined, [])).toEqual({
      ok: false,
      reason: 'version',
    });
    expect(await store.get('alice', 'reborn')).toEqual(current);
    await service.terminate(alice, 'reborn');
  });

  it('restart with clearMemory moves the memory floor and deletes the old messages', async () => {
    const service = new ThreadService(config, store);
    await service.spawn(alice, { agent: 'data', sessionKey: 'forgetful' });
    // Pretend three messages were written by turns.
    const thread = (await store.get('alice', 'forgetful'))!;
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          ...keys.thread('alice', 'forgetful'),
          kind: 'thread',
          ...thread,
          messageSeq: 3,
          gsi1pk: keys.tenantIndex('alice'),
          gsi1sk: keys.tenantSort(thread.createdAt, 'forgetful'),
        },
      }),
    );
    await seed('alice', 'forgetful', [keys.message(1), keys.message(2), keys.message(3)]);
    const kept = await service.restart(alice, 'forgetful', { clearMemory: false });
    expect(kept.generation).toBe(2);
    expect(
      (await table.scanAll()).filter(
        (i) => String(i.sk).startsWith('MSG#') && i.pk === keys.threadPk('alice', 'forgetful'),
      ),
    ).toHaveLength(3);
    await service.restart(alice, 'forgetful', { clearMemory: true });
    expect(await store.get('alice', 'forgetful')).toMatchObject({ memoryFloorSeq: 3, generation: 3 });
    expect(
      (await table.scanAll()).filter(
        (i) => String(i.sk).startsWith('MSG#') && i.pk === keys.threadPk('alice', 'forgetful'),
      ),
    ).toHaveLength(0);
    await service.terminate(alice, 'forgetful');
    await expect(service.restart(alice, 'forgetful', { clearMemory: false })).rejects.toMatchObject({
      code: 'thread_terminated',
    });
  });

  it('pages through a filtered listing with the cursor, each thread exactly once, newest first', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const service = new ThreadService(config, store, {
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
    });
    const bob: Principal = { tenant: 'bob', admin: false, keyId: 'key_bob' };
    const spawnedKeys: string[] = [];
    for (let i = 0; i < 24; i += 1)
      spawnedKeys.push((await service.spawn(bob, { agent: i % 3 === 0 ? 'analysis' : 'data' })).sessionKey);
    const collect = async (filter: { agent?: string; status?: 'active' | 'terminated' }, limit: number) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await service.list('bob', { ...filter, limit, cursor });
        seen.push(...page.threads.map((t) => t.sessionKey));
        cursor = page.cursor;
      } while (cursor);
      return seen;
    };
    expect(await collect({}, 7)).toEqual([...spawnedKeys].reverse());
    expect(await collect({ agent: 'analysis' }, 3)).toEqual(spawnedKeys.filter((_, i) => i % 3 === 0).reverse());
    for (const key of spawnedKeys.slice(0, 4)) await service.terminate(bob, key);
    expect(await collect({ status: 'terminated' }, 2)).toEqual(spawnedKeys.slice(0, 4).reverse());
    expect(await collect({ status: 'active' }, 100)).toHaveLength(20);
    for (const key of spawnedKeys.slice(4)) await service.terminate(bob, key);
  });

  it('enforces the deployment-wide maxThreads across agents', async () => {
    const small = parseConfig(testConfig({ threadManagement: { maxThreads: 2 } }));
    const own = await createTestTable('maxthreads');
    try {
      const service = new ThreadService(small, new DynamoThreadStore(own.client, own.tableName));
      await service.spawn(alice, { agent: 'data' });
      await service.spawn(alice, { agent: 'analysis' });
      const before = await own.scanAll();
      await expect(service.spawn(alice, { agent: 'trading' })).rejects.toMatchObject({
        code: 'limit_reached',
        details: { limit: 'maxThreads', max: 2 },
      });
      expect(await own.scanAll()).toEqual(before);
    } finally {
      await own.drop();
    }
  });

  it('manual mode requires a sessionKey; singleton agents have exactly one thread per tenant', async () => {
    const manual = parseConfig(
      testConfig({
        threadManagement: { defaultMode: 'manual' },
        agents: {
          coordinator: {
            mode: 'singleton',
            models: ['offline'],
            maxActiveThreads: 10,
            maxConcurrentTurns: 1,
            timeout: '30s',
            memory: { maxTurns: 5, maxAge: '1h', maxBytes: 1000 },
          },
        } as never,
      }),
    );
    const service = new ThreadService(manual, store);
    await expect(service.spawn(alice, { agent: 'data' })).rejects.toMatchObject({ code: 'session_key_required' });
    const coordinator = await service.spawn(alice, { agent: 'coordinator' });
    expect(coordinator.sessionKey).toBe('coordinator');
    await expect(service.spawn(alice, { agent: 'coordinator' })).rejects.toMatchObject({ code: 'thread_exists' });
    await expect(service.spawn(alice, { agent: 'coordinator', sessionKey: 'other' })).rejects.toBeInstanceOf(
      ThreadError,
    );
  });
});
