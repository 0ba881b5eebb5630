import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';

/** The items of one TransactWriteItems call. */
export type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** Outcome of a transaction: committed, or cancelled with the index of each failed condition. */
export type TransactOutcome = { ok: true } | { ok: false; failedConditions: number[] };

const MAX_ATTEMPTS = 12;
const BASE_DELAY_MS = 15;
const MAX_DELAY_MS = 800;

/**
 * Runs TransactWriteItems. Transaction conflicts (another transaction touching the same
 * item at the same moment, e.g. two spawns bumping one agent counter) are retried with full
 * jitter; failed conditions are returned, not thrown, so callers can say which rule refused.
 */
export async function transactWrite(client: DynamoDBDocumentClient, items: TransactItems): Promise<TransactOutcome> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.send(new TransactWriteCommand({ TransactItems: items }));
      return { ok: true };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      const failedConditions = reasons.flatMap((reason, index) =>
        reason.Code === 'ConditionalCheckFailed' ? [index] : [],
      );
      if (failedConditions.length > 0) return { ok: false, failedConditions };
      const retryable = reasons.some(
        (reason) => reason.Code === 'TransactionConflict' || reason.Code === 'ThrottlingError',
      );
      if (!retryable || attempt >= MAX_ATTEMPTS) throw error;
      const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
      await sleep(Math.random() * cap);
    }
  }
}
