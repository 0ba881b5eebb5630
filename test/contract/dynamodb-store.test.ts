import { DynamoThreadStore } from '../../lib/adapters/dynamodb/thread-store.js';
import { createTestTable } from '../support/dynamo.js';
import { describeThreadStoreContract } from './thread-store.contract.js';

// The thread store contract on DynamoDB Local: a fresh table per case (counters are table-wide).
describeThreadStoreContract('DynamoDB', async () => {
  const table = await createTestTable('contract');
  return { store: new DynamoThreadStore(table.client, table.tableName), cleanup: () => table.drop() };
});
