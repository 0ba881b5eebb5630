import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestTable, type TestTable } from '../support/dynamo.js';
import {
  type AcceptedTurn,
  FaultInjector,
  type FaultRule,
  retryingClient,
  turnLedger,
} from '../support/fault-injection.js';
import { startTestStack, type TestStack, testAgent } from '../support/local-stack.js';
import { expectInvariants } from './invariants.js';
import { waitForQuiescence } from './support.js';

// DynamoDB faults injected into the real SDK clients: the service's throttling answers, transaction
// conflicts, and writes whose response is lost after they were applied. First the SDK's own
// behaviour on a bare table, then the whole local stack with the handlers' client faulted.

describe('the fault-injection middleware on a real DynamoDB client', () => {
  let table: TestTable;
  beforeAll(async () => {
    table = await createTestTable('faults-sdk');
  });
  afterAll(async () => table?.drop());
  // The bare table holds no thread items; the check still proves the faults left nothing half-written.
  afterEach(async () => expectInvariants(table, { quiescent: true }));

  it('throttling answers are retried by the SDK standard retry strategy: applied once, on the 3rd attempt', async () => {
    for (const kind of ['throughput', 'throttling'] as const) {
      const faults = new FaultInjector([{ commands: ['PutItem'], kind, calls: [1, 2] }]).attach(table.client);
      try {
        const result = await table.client.send(
          new PutCommand({ TableName: table.tableName, Item: { pk: `throttled-${kind}`, sk: 'X', n: 1 } }),
        );
        expect(result.$metadata.attempts).toBe(3);
        expect(faults.stats()[0]).toMatchObject({ matched: 3, injected: 2 });
      } finally {
        faults.detach();
      }
      expect(await table.getItem(`throttled-${kind}`, 'X')).toEqual({ pk: `throttled-${kind}`, sk: 'X', n: 1 });
    }
  });

  it('past the SDK maxAttempts the real exception class reaches the caller, and nothing was written', async () => {
    const faults = new FaultInjector([{ commands: ['PutItem'], kind: 'throughput', rate: 1 }]).attach(table.client);
    try {
      const error = await table.client
        .send(new PutCommand({ TableName: table.tableName, Item: { pk: 'never', sk: 'X' } }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProvisionedThroughputExceededException);
      // The client's own limit (DynamoDB clients of this SDK version default to 4 attempts).
      const maxAttempts = await table.client.config.maxAttempts();
      expect(maxAttempts).toBeGreaterThanOrEqual(3);
      expect((error as ProvisionedThroughputExceededException).$metadata.attempts).toBe(maxAttempts);
      expect(faults.stats()[0]!.injected).toBe(maxAttempts);
    } finally {
      faults.detach();
    }
    expect(await table.getItem('never', 'X')).toBeUndefined();
  });

  it('a lost TransactWriteItems response is safe: the retry reuses the SDK-generated ClientRequestToken, so DynamoDB answers success without applying twice', async () => {
    const faults = new FaultInjector([{ commands: ['TransactWriteItems'], kind: 'lost-response', calls: [1] }]).attach(
      table.client,
    );
    try {
      const result = await table.client.send(
        new TransactWriteCommand({
          TransactItems: [
            // A create-once item and a counter: both would betray a second application.
            {
              Put: {
                TableName: table.tableName,
                Item: { pk: 'tx', sk: 'ONCE' },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: table.tableName,
                Key: { pk: 'tx', sk: 'COUNT' },
                UpdateExpression: 'ADD n :one',
                ExpressionAttributeValues: { ':one': 1 },
              },
            },
          ],
        }),
      );
      expect(result.$metadata.attempts).toBe(2);
    } finally {
      faults.detach();
    }
    expect((await table.getItem('tx', 'COUNT'))?.n).toBe(1);
  });

  it('a lost response of a single-item write is retried blindly: a conditional one becomes visible (ConditionalCheckFailed though applied), an ADD counts twice', async () => {
    const faults = new FaultInjector([
      { commands: ['PutItem'], kind: 'lost-response', calls: [1] },
      { commands: ['UpdateItem'], kind: 'lost-response', calls: [1] },
    ]).attach(table.client);
    try {
      const put = await table.client
        .send(
          new PutCommand({
            TableName: table.tableName,
            Item: { pk: 'single', sk: 'ONCE' },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        )
        .catch((e: Error) => e.name);
      expect(put).toBe('ConditionalCheckFailedException');
      await table.client.send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: { pk: 'single', sk: 'COUNT' },
          UpdateExpression: 'ADD n :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    } finally {
      faults.detach();
    }
    expect(await table.getItem('single', 'ONCE')).toBeDefined();
    // This is why every write of the turn path is a transaction (and the audit appends too): the
    // remaining single-item ADDs are statistics (see docs: circuit failures, secret access counts).
    expect(
      (
        await table.client.send(
          new GetCommand({ TableName: table.tableName, Key: { pk: 'single', sk: 'COUNT' }, ConsistentRead: true }),
        )
      ).Item?.n,
    ).toBe(2);
  });
});

describe('the local stack with faults in its handlers’ DynamoDB client', () => {
  let stack: TestStack;
  let context: typeof import('../../functions/shared/deps/config.js') &
    typeof import('../../functions/shared/deps/document-client.js');
  beforeAll(async () => {
    stack = await startTestStack(
      {
        threadManagement: { onBusy: 'enqueue' },
        agents: {
          chat: testAgent(['test:delay=20'], { subAgents: ['helper'], maxChildren: 1, maxSpawnDepth: 1 }),
          helper: testAgent(['test:delay=20']),
        } as never,
      },
      { recoveryIntervalMs: 1_000 },
    );
    // The module the stack's handlers share (functions/shared/deps/): the middleware goes on
    // its client from here, no production change needed.
    context = {
      ...(await import('../../functions/shared/deps/config.js')),
      ...(await import('../../functions/shared/deps/document-client.js')),
    };
  });
  afterAll(async () => stack?.stop());

  /**
   * A storm under faults: `threads` spawns, then `turns` turns per thread submitted at once (queued
   * behind each other), every second one fanning out to a sub-agent; faults stop once every turn
   * was accepted, then everything must end exactly once with nothing lost or duplicated.
   */
  async function storm(prefix: string, rules: FaultRule[], counts: { threads: number; turns: number }) {
    const client = retryingClient((method, path, body) => stack.call(method, path, body === undefined ? {} : { body }));
    const faults = new FaultInjector(rules, { seed: 7 }).attach(context.documentClient);
    const accepted: AcceptedTurn[] = [];
    const refused: unknown[] = [];
    try {
      const keys = Array.from({ length: counts.threads }, (_, i) => `${prefix}-${i}`);
      const spawned = await Promise.all(keys.map((key) => client.spawn('chat', key)));
      expect(spawned.every(Boolean)).toBe(true);
      await Promise.all(
        keys.map(async (key) => {
          for (let t = 0; t < counts.turns; t += 1) {
            const input = t % 2 === 1 ? `@helper part ${t} of ${key}` : `turn ${t} of ${key}`;
            const result = await client.submit(key, input, `${key}-turn-${t}`);
            if ('turnId' in result) accepted.push(result);
            else refused.push(result);
          }
        }),
      );
      // The storm's faults continue while the turns run; the clients wait for the outcome.
      const finals = await Promise.all(accepted.map((turn) => client.final(turn.sessionKey, turn.turnId)));
      faults.pause();
      expect(refused).toEqual([]);
      expect(accepted).toHaveLength(counts.threads * counts.turns);
      return { faults, accepted, finals };
    } finally {
      faults.detach();
    }
  }

  /** After the storm: quiescent, every turn accounted for, every slot given back. */
  async function expectAccountedFor(accepted: AcceptedTurn[]) {
    await stack.stepFunctions.idle();
    await waitForQuiescence(stack.table);
    const ledger = turnLedger(await stack.table.scanAll(), accepted);
    expect(ledger.problems).toEqual([]);
    const counters = await stack.agentCounters();
    expect(counters.chat!.runningTurns).toBe(0);
    expect(counters.helper!.runningTurns).toBe(0);
    await expectInvariants(stack.table, { quiescent: true, config: context.config });
    return ledger;
  }

  it('throttling on 25 % of every DynamoDB call during spawns and turns: retried by the SDK, every turn answers once', async () => {
    const { faults, accepted, finals } = await storm(
      'thr',
      [
        { commands: '*', kind: 'throughput', rate: 0.15 },
        { commands: '*', kind: 'throttling', rate: 0.1 },
      ],
      { threads: 4, turns: 3 },
    );
    expect(faults.injected()).toBeGreaterThan(20);
    expect(finals.filter((f) => f.status !== 'succeeded').map((f) => `${f.status}: ${f.error}`)).toEqual([]);
    await expectAccountedFor(accepted);
  }, 90_000);

  it('transaction conflicts injected into the turn claim and finish transactions: retried by the store (transact.ts), every turn answers once', async () => {
    const touchesTurn = (body: Record<string, unknown>) =>
      JSON.stringify(body.TransactItems ?? []).includes('"S":"TURN#');
    const { faults, accepted, finals } = await storm(
      'cnf',
      [{ commands: ['TransactWriteItems'], kind: 'conflict', rate: 0.4, when: touchesTurn }],
      { threads: 4, turns: 3 },
    );
    expect(faults.stats()[0]!.injected).toBeGreaterThan(5);
    expect(finals.filter((f) => f.status !== 'succeeded').map((f) => `${f.status}: ${f.error}`)).toEqual([]);
    await expectAccountedFor(accepted);
  }, 90_000);

  it('lost responses of 30 % of the writes (applied, then the connection resets): nothing is applied twice, every turn answers once', async () => {
    const writes = ['TransactWriteItems', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'];
    const { faults, accepted, finals } = await storm('lost', [{ commands: writes, kind: 'lost-response', rate: 0.3 }], {
      threads: 4,
      turns: 3,
    });
    expect(faults.stats()[0]!.byCommand.TransactWriteItems).toBeGreaterThan(5);
    expect(finals.filter((f) => f.status !== 'succeeded').map((f) => `${f.status}: ${f.error}`)).toEqual([]);
    const ledger = await expectAccountedFor(accepted);
    // Each parent turn's reply is its own: no reply of one turn was recorded twice or on another.
    for (const turn of accepted)
      expect(ledger.messages.filter((m) => m.turnId === turn.turnId && m.role === 'assistant')).toHaveLength(1);
  }, 90_000);
});
