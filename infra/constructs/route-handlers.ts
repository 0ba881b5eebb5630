import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { DEFAULT_HANDLER_TIMEOUT_SECONDS, ROUTES, type RouteDefinition } from '../../lib/api/routes.js';
import { grantTableAccess, type TableAccess } from './table-access.js';
import { ThreadboundFunction } from './threadbound-function.js';

const ACCESS_RANK: Record<TableAccess, number> = { none: 0, read: 1, write: 2 };

/** API Gateway HTTP APIs wait at most 30 s for an integration: a longer Lambda timeout is never useful. */
export const MAX_ROUTE_TIMEOUT_SECONDS = 30;

/** Something that can let a function start turn workflow executions (the {@link TurnWorkflow}). */
export interface TurnStarter {
  /** Sets STATE_MACHINE_ARN on the function and lets its role call states:StartExecution on the state machine. */
  allowStartingTurns(fn: ThreadboundFunction): void;
}

/** Something that can let a function see secrets' metadata or start their rotation (the {@link ThreadboundSecrets}). */
export interface SecretGrants {
  grantDescribe(fn: ThreadboundFunction): void;
  grantRotate(fn: ThreadboundFunction): void;
}

/** Props of {@link RouteHandlers}. */
export interface RouteHandlersProps {
  readonly table: dynamodb.Table;
  readonly configPath: string;
  /** Required as soon as one route has `startsTurns`. */
  readonly turns?: TurnStarter;
  /** Required as soon as one route has `secrets`. */
  readonly secrets?: SecretGrants;
  /** @default ROUTES */
  readonly routes?: readonly RouteDefinition[];
}

/** What one handler needs, merged over every route it serves. */
interface HandlerNeeds {
  table: TableAccess;
  startsTurns: boolean;
  timeoutSeconds: number;
  secrets: Set<NonNullable<RouteDefinition['secrets']>>;
}

/**
 * One Lambda per distinct route handler of the route table (functions/api/<handler>.ts), each
 * with exactly the table access its routes declare (none, read, or read/write), the right to start
 * turn executions only if one of its routes `startsTurns`, Secrets Manager metadata or rotation
 * only as its routes' `secrets` say (never a value), and the longest `timeoutSeconds` of its routes
 * (10 s by default).
 */
export class RouteHandlers extends Construct {
  /** Functions by handler name. */
  readonly functions: ReadonlyMap<string, ThreadboundFunction>;
  /** Table access granted to each handler. */
  readonly access: ReadonlyMap<string, TableAccess>;
  /** Handlers allowed to start turn workflow executions. */
  readonly turnStarters: ReadonlySet<string>;

  constructor(scope: Construct, id: string, props: RouteHandlersProps) {
    super(scope, id);
    const routes = props.routes ?? ROUTES;

    // A handler serving several routes gets the strongest access, the start right and the longest
    // timeout any of them declares.
    const needs = new Map<string, HandlerNeeds>();
    for (const route of routes) {
      const timeoutSeconds = route.timeoutSeconds ?? DEFAULT_HANDLER_TIMEOUT_SECONDS;
      if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > MAX_ROUTE_TIMEOUT_SECONDS) {
        throw new Error(
          `route ${route.method} ${route.path}: timeoutSeconds must be a whole number from 1 to ${MAX_ROUTE_TIMEOUT_SECONDS} (the API Gateway integration limit), got ${timeoutSeconds}`,
        );
      }
      const current = needs.get(route.handler);
      needs.set(route.handler, {
        table:
          current === undefined || ACCESS_RANK[route.table] > ACCESS_RANK[current.table] ? route.table : current.table,
        startsTurns: (current?.startsTurns ?? false) || route.startsTurns === true,
        timeoutSeconds: Math.max(current?.timeoutSeconds ?? 0, timeoutSeconds),
        secrets: new Set([...(current?.secrets ?? []), ...(route.secrets ? [route.secrets] : [])]),
      });
    }

    const functions = new Map<string, ThreadboundFunction>();
    const access = new Map<string, TableAccess>();
    const turnStarters = new Set<string>();
    for (const [handler, need] of needs) {
      const fn = new ThreadboundFunction(this, handler, {
        entry: `functions/api/${handler}.ts`,
        configPath: props.configPath,
        tableName: props.table.tableName,
        description: `threadbound API handler ${handler}`,
        timeout: Duration.seconds(need.timeoutSeconds),
      });
      grantTableAccess(fn, props.table, need.table);
      if (need.startsTurns) {
        if (props.turns === undefined)
          throw new Error(`handler ${handler} starts turns, but RouteHandlers got no turn workflow (props.turns)`);
        props.turns.allowStartingTurns(fn);
        turnStarters.add(handler);
      }
      if (need.secrets.size > 0 && props.secrets === undefined)
        throw new Error(
          `handler ${handler} needs Secrets Manager access, but RouteHandlers got no secrets (props.secrets)`,
        );
      if (need.secrets.has('describe')) props.secrets!.grantDescribe(fn);
      if (need.secrets.has('rotate')) props.secrets!.grantRotate(fn);
      functions.set(handler, fn);
      access.set(handler, need.table);
    }
    this.functions = functions;
    this.access = access;
    this.turnStarters = turnStarters;
  }
}
