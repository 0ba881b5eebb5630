import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '../../audit/chain.js';
import type { ThreadAuditTrail } from '../../threads/ports.js';
import { readChain } from './audit-items.js';
import { keys } from './keys.js';

/** A thread incarnation's audit chain: the `AUDIT#<threadId>#<seq>` items of the thread's partition. */
export class DynamoThreadAuditTrail implements ThreadAuditTrail {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  auditTrail(tenant: string, sessionKey: string, threadId: string): Promise<AuditEntry[]> {
    return readChain(this.client, this.tableName, keys.threadPk(tenant, sessionKey), threadId);
  }
}
