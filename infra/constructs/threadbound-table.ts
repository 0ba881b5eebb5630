import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE } from '../../lib/adapters/dynamodb/table-definition.js';

/**
 * The one DynamoDB table, built from lib/adapters/dynamodb/table-definition.ts (TABLE) so the cloud table and the
 * local stack's CreateTable cannot drift: no key name is restated here.
 */
export class ThreadboundTable extends Construct {
  /** The table. */
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      // Traffic is bursty and per-thread; on-demand needs no capacity planning.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key (aws/dynamodb): encryption at rest that is visible in the template and
      // in CloudTrail, without a customer managed key's monthly cost or a kms:Decrypt grant on
      // every role. Switch to CUSTOMER_MANAGED when key policies or cross-account control are needed.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TABLE.ttlAttribute,
      // The table holds every thread, message, audit chain and API key: a stack deletion or a
      // replacement must never take it along.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });

    for (const index of Object.values(TABLE.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
  }
}
