import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { ROUTES, type RouteDefinition } from '../../lib/api/routes.js';
import { TABLE } from '../../lib/table/definition.js';
import { ThreadboundFunction } from './threadbound-function.js';

type TableAccess = RouteDefinition['table'];

const ACCESS_RANK: Record<TableAccess, number> = { none: 0, read: 1, write: 2 };

/** Props of {@link RouteHandlers}. */
export interface RouteHandlersProps {
  readonly table: dynamodb.Table;
  readonly configPath: string;
  /** @default ROUTES */
  readonly routes?: readonly RouteDefinition[];
}

/**
 * One Lambda per distinct route handler of the route table (functions/api/<handler>.ts), each
 * with exactly the table access its routes declare: none, read, or read/write.
 */
export class RouteHandlers extends Construct {
  /** Functions by handler name. */
  readonly functions: ReadonlyMap<string, ThreadboundFunction>;
  /** Table access granted to each handler. */
  readonly access: ReadonlyMap<string, TableAccess>;

  constructor(scope: Construct, id: string, props: RouteHandlersProps) {
    super(scope, id);
    const routes = props.routes ?? ROUTES;

    // A handler serving several routes gets the strongest access any of them declares.
    const access = new Map<string, TableAccess>();
    for (const route of routes) {
      const current = access.get(route.handler);
      if (current === undefined || ACCESS_RANK[route.table] > ACCESS_RANK[current]) access.set(route.handler, route.table);
    }

    const indexWildcard = `AwsSolutions::AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(props.table.node.defaultChild as dynamodb.CfnTable)}.Arn>/index/*]`;
    const indexNames = Object.values(TABLE.indexes).map((index) => index.name).join(', ');
    const functions = new Map<string, ThreadboundFunction>();
    for (const [handler, tableAccess] of access) {
      const fn = new ThreadboundFunction(this, handler, {
        entry: `functions/api/${handler}.ts`,
        configPath: props.configPath,
        tableName: props.table.tableName,
        description: `threadbound API handler ${handler}`,
      });
      if (tableAccess === 'read') props.table.grantReadData(fn.role);
      if (tableAccess === 'write') props.table.grantReadWriteData(fn.role);
      if (tableAccess !== 'none') {
        Validations.of(fn.role.node.tryFindChild('DefaultPolicy') ?? fn.role).acknowledge({
          id: indexWildcard,
          reason: `Querying a GSI needs the index ARN; <table-arn>/index/* only matches this table's own global secondary indexes (${indexNames}), never another table's.`,
        });
      }
      functions.set(handler, fn);
    }
    this.functions = functions;
    this.access = access;
  }
}
