import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';

/** Deletes items by key, 25 per BatchWriteItem, retrying what DynamoDB leaves unprocessed. */
export async function batchDelete(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: Record<string, unknown>[],
): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    let requests = items.slice(i, i + 25).map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
    for (let attempt = 0; requests.length > 0; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt)));
      const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      requests = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  }
}

/** Deletes the items of a partition (optionally within a sort-key range) that `select` picks. */
export async function deleteWhere(
  client: DynamoDBDocumentClient,
  tableName: string,
  pk: string,
  range: { from: string; to: string } | undefined,
  select: (sk: string) => boolean,
): Promise<void> {
  let start: Record<string, unknown> | undefined;
  do {
    const result = await client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: range ? 'pk = :pk AND sk BETWEEN :from AND :to' : 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk, ...(range ? { ':from': range.from, ':to': range.to } : {}) },
        ProjectionExpression: 'pk, sk',
        ExclusiveStartKey: start,
      }),
    );
    await batchDelete(
      client,
      tableName,
      (result.Items ?? []).filter((item) => select(String(item.sk))),
    );
    start = result.LastEvaluatedKey;
  } while (start);
}
