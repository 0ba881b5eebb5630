import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { processRedactor } from '../../secrets/redactor.js';

/**
 * The document client every adapter uses. The endpoint comes from the SDK's own
 * AWS_ENDPOINT_URL_DYNAMODB variable (the local stack sets it), so no code path differs
 * between DynamoDB and DynamoDB Local.
 */
export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient(config);
  // The last line of the redaction defence: whatever a code path forgot to scrub, no secret value
  // this process has seen is ever written to the table. The walk covers the strings of plain
  // objects and arrays in every command's input (the project stores no sets or binary values).
  client.middlewareStack.add((next) => (args) => next({ ...args, input: processRedactor.redactDeep(args.input) }), {
    step: 'serialize',
    priority: 'high',
    name: 'threadboundRedactSecrets',
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}
