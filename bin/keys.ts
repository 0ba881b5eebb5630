import { parseArgs } from 'node:util';
import { DynamoApiKeyStore } from '../lib/adapters/dynamodb/api-key-store.js';
import { createDocumentClient } from '../lib/adapters/dynamodb/client.js';
import { generateApiKey, hashApiKey, TENANT_PATTERN } from '../lib/auth/api-keys.js';

const USAGE = 'usage: npm run keys -- create --table <TableName> --tenant <tenant> [--admin] [--label <text>]';

/** `npm run keys -- create …`: stores a new API key (hashed) in the table and prints it once. */
async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      table: { type: 'string' },
      tenant: { type: 'string' },
      admin: { type: 'boolean', default: false },
      label: { type: 'string' },
    },
  });
  if (positionals[0] !== 'create' || !values.table || !values.tenant) throw new Error(USAGE);
  if (!TENANT_PATTERN.test(values.tenant)) throw new Error(`--tenant must match ${TENANT_PATTERN}`);
  const key = generateApiKey();
  const client = createDocumentClient();
  await new DynamoApiKeyStore(client, values.table).put({
    keyHash: hashApiKey(key),
    tenant: values.tenant,
    admin: values.admin,
    label: values.label,
    createdAt: new Date().toISOString(),
  });
  client.destroy();
  // The only time the key is ever shown: the table keeps its hash.
  console.log(key);
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
