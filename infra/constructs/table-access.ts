import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { TABLE } from '../../lib/adapters/dynamodb/table-definition.js';
import type { RouteDefinition } from '../../lib/api/routes.js';
import type { ThreadboundFunction } from './threadbound-function.js';

/** What a function's role may do on the table. */
export type TableAccess = RouteDefinition['table'];

/**
 * Grants a function `read` (grantReadData) or `write` (grantReadWriteData) access to the table, or
 * nothing for `none`. Both grants include `<table-arn>/index/*` (querying a GSI needs the index
 * ARN), which cdk-nag reports as AwsSolutions-IAM5; it is acknowledged here, on the function role's
 * DefaultPolicy, with the plugin-qualified id so it stays listed in validation-report.json.
 */
export function grantTableAccess(fn: ThreadboundFunction, table: dynamodb.Table, access: TableAccess): void {
  if (access === 'none') return;
  if (access === 'read') table.grantReadData(fn.role);
  if (access === 'write') table.grantReadWriteData(fn.role);

  const tableLogicalId = Stack.of(table).getLogicalId(table.node.defaultChild as dynamodb.CfnTable);
  const indexNames = Object.values(TABLE.indexes)
    .map((index) => index.name)
    .join(', ');
  Validations.of(fn.role.node.tryFindChild('DefaultPolicy') ?? fn.role).acknowledge({
    id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
    reason: `Querying a GSI needs the index ARN; <table-arn>/index/* only matches this table's own global secondary indexes (${indexNames}), never another table's.`,
  });
}
