import { keys } from '../../../lib/adapters/dynamodb/keys.js';
import type { ThreadMessages } from '../../../lib/threads/ports.js';
import type { Message } from '../../../lib/turns/model.js';
import { requirePageSize } from './records.js';
import { compare, type MemoryTable, stripKind } from './table.js';

const LAST = keys.message(9_999_999_999);

/** ThreadMessages in memory: `MSG#<seq>` items, so seq ranges are key ranges as in the table. */
export class MemoryThreadMessages implements ThreadMessages {
  constructor(private readonly table: MemoryTable) {}

  async messagesAfter(tenant: string, sessionKey: string, afterSeq: number, limit: number): Promise<Message[]> {
    return this.range(tenant, sessionKey, afterSeq, limit, false);
  }

  async latestMessages(tenant: string, sessionKey: string, floorSeq: number, limit: number): Promise<Message[]> {
    return this.range(tenant, sessionKey, floorSeq, limit, true);
  }

  async deleteMessages(tenant: string, sessionKey: string, seqs: number[]): Promise<void> {
    for (const seq of seqs) this.table.delete(keys.threadPk(tenant, sessionKey), keys.message(seq));
  }

  async trimHistory(
    tenant: string,
    sessionKey: string,
    options: { keepFromSeq: number; olderThan: string; limit: number },
  ): Promise<number> {
    const oldest = await this.messagesAfter(tenant, sessionKey, 0, options.limit);
    const doomed: number[] = [];
    for (const message of oldest) {
      if (message.seq >= options.keepFromSeq && message.createdAt >= options.olderThan) break;
      doomed.push(message.seq);
    }
    await this.deleteMessages(tenant, sessionKey, doomed);
    return doomed.length;
  }

  async trimMessages(tenant: string, sessionKey: string, floorSeq: number): Promise<void> {
    if (floorSeq < 1) return;
    const pk = keys.threadPk(tenant, sessionKey);
    const [from, to] = [keys.message(1), keys.message(floorSeq)];
    for (const { sk } of this.table.query(pk, (sk) => compare(sk, from) >= 0 && compare(sk, to) <= 0))
      this.table.delete(pk, sk);
  }

  /** Messages with seq above `floorSeq`, oldest first (or newest first), at most `limit`. */
  private range(tenant: string, sessionKey: string, floorSeq: number, limit: number, backward: boolean): Message[] {
    requirePageSize(limit);
    const from = keys.message(floorSeq + 1);
    return this.table
      .query(keys.threadPk(tenant, sessionKey), (sk) => compare(sk, from) >= 0 && compare(sk, LAST) <= 0, backward)
      .slice(0, limit)
      .map(({ item }) => stripKind<Message>(item));
  }
}
