import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../infra/local/stack.js';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { createTestTable } from '../support/dynamo.js';
import { TEST_KEYS, testConfig } from '../support/local-stack.js';

const table = await createTestTable('startup');
afterAll(async () => table.drop());

describe('the local stack at start', () => {
  it('reconciles: counters corrupted while it was down are repaired before it serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-startup-'));
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(testConfig()));
    const start = () =>
      startLocalStack({
        port: 0,
        dataDir: dir,
        configPath,
        tableName: table.tableName,
        dynamoEndpoint: table.endpoint,
        localKeys: `${TEST_KEYS.tenantA}:tenant-a`,
      });
    const agents = async (url: string) => {
      const response = await fetch(`${url}/v1/agents`, { headers: { authorization: `Bearer ${TEST_KEYS.tenantA}` } });
      return (await response.json()) as {
        agents: { name: string; activeThreads: number }[];
        deployment: { activeThreads: number };
      };
    };

    const first = await start();
    for (const sessionKey of ['one', 'two']) {
      await fetch(`${first.url}/v1/threads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEYS.tenantA}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'data', sessionKey }),
      });
    }
    await first.stop();

    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.agentCounters('data'),
        UpdateExpression: 'SET activeThreads = :n',
        ExpressionAttributeValues: { ':n': 17 },
      }),
    );
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.deploymentCounters(),
        UpdateExpression: 'SET activeThreads = :n',
        ExpressionAttributeValues: { ':n': 0 },
      }),
    );

    const second = await start();
    try {
      const after = await agents(second.url);
      expect(after.agents.find((a) => a.name === 'data')!.activeThreads).toBe(2);
      expect(after.deployment.activeThreads).toBe(2);
    } finally {
      await second.stop();
    }
  });
});
