import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The one DynamoDB table of threadbound, as data: the CDK construct and the local stack's
 * CreateTable are both generated from this object, so the two can never drift.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Safety net for deletion only: TTL may lag by days, so nothing relies on it. */
  ttlAttribute: 'expiresAt',
  indexes: {
    /** A tenant's threads, newest first: gsi1pk = TENANT#<tenant>, gsi1sk = <createdAt>#<sessionKey>. */
    byTenant: { name: 'byTenant', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    /**
     * Sparse: only live threads carry these keys, sorted by lastActiveAt, so the idle sweep reads
     * only candidates. The partition key is spread over ACTIVE_SHARDS so no single GSI partition
     * serialises every writer of the deployment.
     */
    activeByLastActive: { name: 'activeByLastActive', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
    /** Audit entries by day (sharded the same way): gsi3pk = AUDIT#<yyyy-mm-dd>#<shard>, gsi3sk = <at>#<pk>#<seq>. */
    auditByDate: { name: 'auditByDate', partitionKey: 'gsi3pk', sortKey: 'gsi3sk' },
  },
} as const;

/** Number of partitions the sparse idle index and the audit date index are spread over. */
export const INDEX_SHARDS = 8;

export type IndexName = keyof typeof TABLE.indexes;

/** The CreateTable input the local stack (and the tests) use; CDK builds the same shape from TABLE. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  const indexes = Object.values(TABLE.indexes);
  const attributes = [
    TABLE.partitionKey,
    TABLE.sortKey,
    ...indexes.flatMap((index) => [index.partitionKey, index.sortKey]),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ],
    AttributeDefinitions: attributes.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    GlobalSecondaryIndexes: indexes.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  };
}
