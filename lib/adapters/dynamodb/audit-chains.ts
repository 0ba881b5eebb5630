import { type DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditChainSource, ChainRef, StoredChain } from '../../audit/integrity.js';
import { AuditCursorError } from '../../audit/query.js';
import type { ChainHead } from '../../audit/verify.js';
import { auditChainOf, auditPrefix, readStoredChain } from './audit-items.js';
import { keys } from './keys.js';
import { agentChain, secretChain } from './secret-ledger.js';

/** Items one Scan page evaluates: bounds the chains (and so the reads) one page can bring. */
export const SCAN_PAGE_ITEMS = 300;

const THREAD_HEAD_SK = keys.thread('', '').sk;
const SECRET_HEAD_SK = keys.secretState('').sk;
const AGENT_HEAD_SK = keys.agentAuditHead('').sk;

interface Seen {
  ref: ChainRef;
  /** The smallest audit sort key of the chain in this page. */
  firstSk?: string;
  /** Whether the chain's head item is in this page. */
  head: boolean;
}

/**
 * Every audit chain of the table, found by a paged Scan of its audit entries and head items (the
 * only place that lists every chain: old incarnations and destroyed threads have no head, and the
 * date index sees only a window). A chain's items may fall on several Scan pages, so a chain
 * belongs to the page holding its first entry (or, when every entry is gone, its head): each page
 * asks each chain it sees for its first key (one 1-item Query). Ownership is decided when the page is
 * read, against the chain's keys then: a chain whose lowest entries are deleted between two pages of
 * a walk can be verified twice (the second time with the deletion reported), and one given a lower
 * key after its page was passed is missed by that walk; only tampering does either (entries are
 * appended at the top), and the next walk sees it.
 */
export class DynamoAuditChains implements AuditChainSource {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly pageItems = SCAN_PAGE_ITEMS,
  ) {}

  async discover(cursor?: string): Promise<{ chains: ChainRef[]; cursor?: string }> {
    const result = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        Limit: this.pageItems,
        ...(cursor !== undefined ? { ExclusiveStartKey: decode(cursor) } : {}),
        // Keys decide what an item is: a tampered attribute cannot hide an entry from the walk.
        FilterExpression: 'begins_with(#sk, :audit) OR attribute_exists(#auditSeq)',
        ProjectionExpression: '#pk, #sk, #auditSeq, #threadId',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#auditSeq': 'auditSeq', '#threadId': 'threadId' },
        ExpressionAttributeValues: { ':audit': 'AUDIT#' },
      }),
    );
    const seen = new Map<string, Seen>();
    const note = (partition: string, chain: string): Seen => {
      const id = `${partition}\n${chain}`;
      const found = seen.get(id) ?? { ref: { partition, chain }, head: false };
      seen.set(id, found);
      return found;
    };
    for (const item of result.Items ?? []) {
      const pk = String(item.pk);
      const sk = String(item.sk);
      const chain = auditChainOf(sk);
      if (chain !== undefined) {
        const found = note(pk, chain);
        if (found.firstSk === undefined || sk < found.firstSk) found.firstSk = sk;
        continue;
      }
      const headed = headChainOf(pk, sk, item);
      if (headed !== undefined) note(pk, headed).head = true;
    }
    const owned = await Promise.all(
      [...seen.values()].map(async (found) => ((await this.owns(found)) ? found.ref : undefined)),
    );
    const next = result.LastEvaluatedKey;
    return {
      chains: owned.filter((ref): ref is ChainRef => ref !== undefined),
      ...(next ? { cursor: encode(next) } : {}),
    };
  }

  async read(ref: ChainRef): Promise<StoredChain> {
    // Head first: an entry appended after this read is past it, never a gap below it.
    const head = await this.head(ref);
    const { entries, slots } = await readStoredChain(this.client, this.tableName, ref.partition, ref.chain);
    const last = slots.reduce((a, b) => Math.max(b, a), 0);
    if (!head || last <= head.seq) return { ...ref, entries, slots, ...(head ? { head } : {}) };
    // Entries past the head: a concurrent append moves the head with its entry (one transaction), so
    // re-read it; only what is still past it was stored without it. A chain that lost its head
    // meanwhile (a restart or a destroy ended it) has nothing left to bound it by.
    const now = await this.head(ref);
    return { ...ref, entries, slots, head, bound: now ? now.seq : Infinity };
  }

  /**
   * Whether this page owns the chain: it holds the chain's first entry (by key, asked of the table:
   * a page holding seq 1 may still not, when a lower key was planted), or its head when the chain has
   * no entry left.
   */
  private async owns(found: Seen): Promise<boolean> {
    const first = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': found.ref.partition, ':prefix': auditPrefix(found.ref.chain) },
        ProjectionExpression: 'sk',
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const firstSk = first.Items?.[0]?.sk as string | undefined;
    return firstSk === undefined ? found.head : firstSk === found.firstSk;
  }

  /** The head recorded for a chain, if it still has one (a thread's head is its current incarnation's). */
  private async head(ref: ChainRef): Promise<ChainHead | undefined> {
    const sk = headSkOf(ref.partition);
    if (sk === undefined) return undefined;
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: ref.partition, sk },
        ConsistentRead: true,
        ProjectionExpression: '#seq, #hash, #threadId',
        ExpressionAttributeNames: { '#seq': 'auditSeq', '#hash': 'auditHash', '#threadId': 'threadId' },
      }),
    );
    const item = result.Item;
    if (!item || headChainOf(ref.partition, sk, item) !== ref.chain) return undefined;
    return typeof item.auditSeq === 'number' && typeof item.auditHash === 'string'
      ? { seq: item.auditSeq, hash: item.auditHash }
      : undefined;
  }
}

/** The sort key of the item that holds the heads of a partition's chains. */
function headSkOf(pk: string): string | undefined {
  if (pk.startsWith('THREAD#')) return THREAD_HEAD_SK;
  if (pk.startsWith('SECRET#')) return SECRET_HEAD_SK;
  if (pk.startsWith('AGENT#')) return AGENT_HEAD_SK;
  return undefined;
}

/** The chain whose head an item holds, or undefined when it holds none (a thread item's head is its incarnation's chain). */
function headChainOf(pk: string, sk: string, item: Record<string, unknown>): string | undefined {
  if (item.auditSeq === undefined) return undefined;
  if (pk.startsWith('THREAD#') && sk === THREAD_HEAD_SK)
    return typeof item.threadId === 'string' ? item.threadId : undefined;
  if (pk.startsWith('SECRET#') && sk === SECRET_HEAD_SK) return secretChain(pk.slice('SECRET#'.length));
  if (pk.startsWith('AGENT#') && sk === AGENT_HEAD_SK) return agentChain(pk.slice('AGENT#'.length));
  return undefined;
}

function encode(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ pk: key.pk, sk: key.sk })).toString('base64url');
}

function decode(cursor: string): Record<string, string> {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { pk?: unknown; sk?: unknown };
    if (typeof value.pk === 'string' && typeof value.sk === 'string' && value.pk && value.sk)
      return { pk: value.pk, sk: value.sk };
  } catch {
    // fall through
  }
  throw new AuditCursorError('the cursor is not one this API returned');
}
