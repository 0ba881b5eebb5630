import { DynamoAuditChains } from '../../../lib/adapters/dynamodb/audit-chains.js';
import { DynamoAuditSearch } from '../../../lib/adapters/dynamodb/audit-search.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** The tenant's audit entries, for `GET /v1/audit`. */
export const auditSearch = new DynamoAuditSearch(documentClient, tableName());
/** Every audit chain of the table, for `GET /v1/audit/verify`. */
export const auditChains = new DynamoAuditChains(documentClient, tableName());
