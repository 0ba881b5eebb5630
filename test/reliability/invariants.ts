import { setTimeout as sleep } from 'node:timers/promises';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { stripKeys } from '../../lib/adapters/dynamodb/audit-items.js';
import { keys } from '../../lib/adapters/dynamodb/keys.js';
import { agentChain, secretChain } from '../../lib/adapters/dynamodb/secret-ledger.js';
import type { AuditEntry } from '../../lib/audit/chain.js';
import { verifyChain } from '../../lib/audit/verify.js';
import type { Thread } from '../../lib/threads/model.js';
import type { Message, Turn } from '../../lib/turns/model.js';
import { idempotentTurnId } from '../../lib/turns/service.js';

/*
 * The whole-table invariant check of the reliability suite (docs/architecture.md, "Data" and
 * "Atomicity"). What each invariant means here:
 * - counters: AGENT#<a>/COUNTERS activeThreads = live (status active) threads of <a>, runningTurns =
 *   leases held on them (a slot is taken with the lease and given back with it; queued turns hold
 *   none); DEPLOYMENT/COUNTERS activeThreads = all live threads (not the sum of the agent counters,
 *   so one bad counter is one violation); none negative; with `config`, none above its maximum.
 * - leases: a lease's turn exists, is running and has the lease's fencing token; a running turn is
 *   its thread's lease holder; no lease on a terminated thread; a queued turn on a terminated
 *   thread without a lease is left behind. Quiescent: no lease, no running or queued turn at all.
 * - messages: seqs contiguous from the lowest kept one to the thread's messageSeq (nothing above
 *   it); below memoryFloorSeq (restart with clearMemory) and, with `config`, below the memory window
 *   (messageSeq − 2·maxTurns) messages may be left (retention deletes two per finish); every message
 *   names an existing turn, at most one user message per turn, and a turn's userSeq/replySeq point
 *   at its own user/assistant message when that message is still kept.
 * - turns: at most one reply per turn and none for a turn that did not succeed; an idempotency key
 *   used by one turn per thread, whose id is the one derived from it; queue entries = queued turns
 *   (and = the thread's queuedTurns while it is live); turns of the thread's own incarnation.
 * - audit: every chain (per partition and chain name) verifies with verifyChain and ends at its
 *   head's auditSeq/auditHash: the thread item (chain = threadId), SECRET#<n>/STATE
 *   (secret:<n>), AGENT#<a>/AUDITHEAD (agent:<a>); chains of destroyed incarnations only verify.
 * Items are named `<pk>/<sk>`; a missing message is named by the key it should have.
 * An auto-destroyed thread whose deletion is pending is skipped (its items go in no order).
 */

/** One invariant that does not hold, on one item (`<pk>/<sk>`). */
export interface Violation {
  invariant: 'counters' | 'leases' | 'messages' | 'audit' | 'turns';
  item: string;
  detail: string;
}

/** The table to check: `TestTable` and `startTestStack().table` both fit. */
export interface CheckedTable {
  client: DynamoDBDocumentClient;
  tableName: string;
}

/**
 * The limits to check counters against, and the memory window below which retention may leave a
 * message behind. A parsed `Config` fits; without it, maxima are not checked and every message
 * above the memory floor must be contiguous.
 */
export interface InvariantConfig {
  threadManagement?: { maxThreads: number };
  agents?: Record<string, { maxActiveThreads: number; maxConcurrentTurns: number; memory?: { maxTurns: number } }>;
}

/** How to check. */
export interface InvariantOptions {
  /**
   * Nothing is running or about to run: no lease, no running turn, no queued turn may be left.
   * Without it, turns may hold leases (e.g. hung ones), but leases and running turns must match.
   */
  quiescent?: boolean;
  /** The deployment's config: counters are then also checked against its maxima. */
  config?: InvariantConfig;
}

type Item = Record<string, unknown>;

// A Scan is not a snapshot: a transaction that lands while the scan runs can show half its items.
// A violation is reported only if every one of a few scans shows it on the same item; a real
// violation is a state and persists, a torn read does not (nor does the tail of a finish that is
// still deleting trimmed messages or starting the next queued turn).
const SCANS = 4;
const SCAN_PAUSE_MS = 250;

/** Reads the whole table (consistent scan) and returns every violated invariant; [] when all hold. */
export async function checkInvariants(table: CheckedTable, options: InvariantOptions = {}): Promise<Violation[]> {
  let persistent: Violation[] | undefined;
  for (let scan = 0; scan < SCANS; scan += 1) {
    if (scan > 0) await sleep(SCAN_PAUSE_MS);
    const found = evaluate(await scanTable(table), options);
    const seen = new Set((persistent ?? found).map(violationKey));
    persistent = found.filter((violation) => seen.has(violationKey(violation)));
    if (persistent.length === 0) return [];
  }
  return persistent ?? [];
}

/** Throws an error listing every violation (for use after each case). */
export async function expectInvariants(table: CheckedTable, options: InvariantOptions = {}): Promise<void> {
  const violations = await checkInvariants(table, options);
  if (violations.length === 0) return;
  const lines = violations.map((v) => `  [${v.invariant}] ${v.item}: ${v.detail}`);
  throw new Error(`${violations.length} invariant violation(s):\n${lines.join('\n')}`);
}

/** Every item of the table, read with strongly consistent reads. */
export async function scanTable(table: CheckedTable): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await table.client.send(
      new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Every violation in one read of the table. */
export function evaluate(items: Item[], options: InvariantOptions = {}): Violation[] {
  const violations: Violation[] = [];
  const report = (invariant: Violation['invariant'], item: string, detail: string) =>
    violations.push({ invariant, item, detail });
  const partitions = new Map<string, Item[]>();
  for (const item of items) {
    const pk = String(item.pk);
    partitions.set(pk, [...(partitions.get(pk) ?? []), item]);
  }
  const threads: Thread[] = [];
  for (const [pk, partition] of partitions) {
    if (pk.startsWith('THREAD#')) {
      const thread = checkThreadPartition(pk, partition, options, report);
      if (thread) threads.push(thread);
    }
    checkAuditChains(pk, partition, report);
  }
  checkCounters(partitions, threads, options.config, report);
  return violations.sort((a, b) => violationKey(a).localeCompare(violationKey(b)));
}

type Report = (invariant: Violation['invariant'], item: string, detail: string) => void;

const at = (pk: string, sk: string) => `${pk}/${sk}`;
const violationKey = (v: Violation) => `${v.invariant}|${v.item}`;

/** Leases, turns and messages of one thread partition; returns the thread (undefined if none). */
function checkThreadPartition(
  pk: string,
  partition: Item[],
  options: InvariantOptions,
  report: Report,
): Thread | undefined {
  const meta = partition.find((item) => item.sk === 'META');
  const bySk = (prefix: string) => partition.filter((item) => String(item.sk).startsWith(prefix));
  const messages = bySk('MSG#').map((item) => stripKeys(item) as unknown as Message);
  const turns = bySk('TURN#').map((item) => stripKeys(item) as unknown as Turn);
  const queue = bySk('QUEUE#').map((item) => ({
    queueSeq: Number(item.queueSeq),
    turnId: String(item.turnId),
    sk: String(item.sk),
  }));
  if (!meta) {
    // A destroy deletes the thread item last, and every later write is conditioned on it: nothing
    // but audit entries may outlive it.
    for (const m of messages)
      report('messages', at(pk, keys.message(m.seq)), 'message left in a partition without a thread');
    for (const t of turns) report('turns', at(pk, keys.turn(t.turnId)), 'turn left in a partition without a thread');
    for (const q of queue) report('turns', at(pk, q.sk), 'queue entry left in a partition without a thread');
    return undefined;
  }
  const thread = stripKeys(meta) as unknown as Thread;
  const threadItem = at(pk, 'META');
  if (keys.threadPk(thread.tenant, thread.sessionKey) !== pk)
    report('turns', threadItem, `thread item of ${thread.tenant}/${thread.sessionKey} stored under another key`);
  // An auto-destroy in progress deletes the items in no particular order; the thread is terminated.
  if (thread.status === 'terminated' && thread.destroyPending) return thread;
  const turnById = new Map(turns.map((turn) => [turn.turnId, turn]));
  checkLeases(pk, thread, turns, turnById, options, report);
  checkTurns(pk, thread, turns, queue, report);
  checkMessages(pk, thread, messages, turns, turnById, options.config, report);
  return thread;
}

/** No lease without its running turn, no running turn without the lease; when quiescent, nothing held or waiting. */
function checkLeases(
  pk: string,
  thread: Thread,
  turns: Turn[],
  turnById: Map<string, Turn>,
  options: InvariantOptions,
  report: Report,
): void {
  const threadItem = at(pk, 'META');
  const lease = thread.lease;
  if (lease) {
    const turn = turnById.get(lease.turnId);
    if (thread.status === 'terminated')
      report('leases', threadItem, `terminated thread still holds a lease for ${lease.turnId}`);
    if (!turn) report('leases', threadItem, `lease held for turn ${lease.turnId}, which does not exist`);
    else if (turn.status !== 'running')
      report('leases', threadItem, `lease held for turn ${lease.turnId}, which is ${turn.status}`);
    else if (turn.fencingToken !== lease.fencingToken)
      report(
        'leases',
        threadItem,
        `lease fencing token ${lease.fencingToken} differs from its turn's ${turn.fencingToken}`,
      );
    if (options.quiescent)
      report('leases', threadItem, `lease still held for ${lease.turnId} although nothing should run`);
  }
  for (const turn of turns) {
    const turnItem = at(pk, keys.turn(turn.turnId));
    if (turn.status === 'running') {
      if (lease?.turnId !== turn.turnId)
        report('leases', turnItem, `turn is running without the thread's lease (held by ${lease?.turnId ?? 'nobody'})`);
      if (options.quiescent) report('leases', turnItem, 'turn still running although nothing should run');
    }
    // A queued turn waits for the running one; with nothing running it was left behind for good.
    if (turn.status === 'queued' && (options.quiescent || (!lease && thread.status === 'terminated'))) {
      report('leases', turnItem, `queued turn left behind on a thread that runs nothing (${thread.status}, no lease)`);
    }
  }
}

/** Queue entries match queued turns, at most one reply per turn (and only for a succeeded one), unique idempotency keys. */
function checkTurns(
  pk: string,
  thread: Thread,
  turns: Turn[],
  queue: { queueSeq: number; turnId: string; sk: string }[],
  report: Report,
): void {
  const byKey = new Map<string, Turn>();
  for (const turn of [...turns].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
    const turnItem = at(pk, keys.turn(turn.turnId));
    if (turn.threadId !== thread.threadId)
      report('turns', turnItem, `turn of incarnation ${turn.threadId} in thread ${thread.threadId}`);
    if (!turn.idempotencyKey) continue;
    if (turn.turnId !== idempotentTurnId(turn.threadId, turn.idempotencyKey))
      report('turns', turnItem, `turnId is not the one derived from idempotency key "${turn.idempotencyKey}"`);
    const first = byKey.get(turn.idempotencyKey);
    if (first) report('turns', turnItem, `idempotency key "${turn.idempotencyKey}" already used by ${first.turnId}`);
    else byKey.set(turn.idempotencyKey, turn);
  }
  const queuedTurns = turns.filter((turn) => turn.status === 'queued');
  const entries = new Set(queue.map((entry) => entry.turnId));
  for (const entry of queue) {
    const turn = turns.find((t) => t.turnId === entry.turnId);
    if (entry.sk !== keys.queue(entry.queueSeq))
      report('turns', at(pk, entry.sk), `queue entry stored under the key of seq ${entry.queueSeq}`);
    if (turn?.status !== 'queued' || turn.queueSeq !== entry.queueSeq) {
      report(
        'turns',
        at(pk, entry.sk),
        `queue entry for ${entry.turnId}, which is ${turn ? `${turn.status} at queueSeq ${turn.queueSeq}` : 'missing'}`,
      );
    }
  }
  for (const turn of queuedTurns)
    if (!entries.has(turn.turnId)) report('turns', at(pk, keys.turn(turn.turnId)), 'queued turn has no queue entry');
  if (thread.status === 'active' && thread.queuedTurns !== queue.length)
    report('turns', at(pk, 'META'), `queuedTurns ${thread.queuedTurns} but ${queue.length} queue entries`);
}

/**
 * Messages: contiguous seqs from the lowest kept (retention trims the oldest) to the thread's
 * messageSeq, no duplicate user message, each turn's userSeq/replySeq pointing at its own messages.
 * Replies are counted under "turns": one reply per succeeded turn, none for any other.
 */
function checkMessages(
  pk: string,
  thread: Thread,
  messages: Message[],
  turns: Turn[],
  turnById: Map<string, Turn>,
  config: InvariantConfig | undefined,
  report: Report,
): void {
  const bySeq = new Map<number, Message>();
  for (const message of messages) {
    const sk = keys.message(message.seq);
    bySeq.set(message.seq, message);
    if (message.seq > thread.messageSeq)
      report('messages', at(pk, sk), `seq ${message.seq} is beyond the thread's messageSeq ${thread.messageSeq}`);
    if (!turnById.has(message.turnId))
      report('messages', at(pk, sk), `message of turn ${message.turnId}, which does not exist`);
  }
  // Below the memory floor (restart with clearMemory) messages are hygiene leftovers; below the
  // memory window retention may have left one (docs: a trim moves the window by two messages).
  const maxTurns = config?.agents?.[thread.agent]?.memory?.maxTurns;
  const windowStart = maxTurns === undefined ? 1 : thread.messageSeq - 2 * maxTurns + 1;
  const kept = messages.map((m) => m.seq).filter((seq) => seq > thread.memoryFloorSeq && seq >= windowStart);
  if (kept.length > 0) {
    for (let seq = Math.min(...kept); seq <= thread.messageSeq; seq += 1) {
      if (!bySeq.has(seq))
        report(
          'messages',
          at(pk, keys.message(seq)),
          `missing: messages ${Math.min(...kept)}..${thread.messageSeq} must be contiguous`,
        );
    }
  }
  const users = new Map<string, number>();
  const replies = new Map<string, number>();
  for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
    const counts = message.role === 'user' ? users : replies;
    counts.set(message.turnId, (counts.get(message.turnId) ?? 0) + 1);
    if (message.role === 'user' && counts.get(message.turnId)! > 1)
      report('messages', at(pk, keys.message(message.seq)), `second user message of turn ${message.turnId}`);
  }
  for (const turn of turns) {
    const turnItem = at(pk, keys.turn(turn.turnId));
    const replyCount = replies.get(turn.turnId) ?? 0;
    if (replyCount > 1) report('turns', turnItem, `${replyCount} replies`);
    if (replyCount > 0 && turn.status !== 'succeeded')
      report('turns', turnItem, `a reply was written for a ${turn.status} turn`);
    const points = (seq: number | undefined, role: Message['role']) => {
      const message = seq === undefined ? undefined : bySeq.get(seq);
      if (message && (message.role !== role || message.turnId !== turn.turnId)) {
        report(
          'messages',
          turnItem,
          `its ${role} message seq ${seq} is a ${message.role} message of ${message.turnId}`,
        );
      }
    };
    if (turn.status === 'queued') continue;
    if (turn.userSeq === undefined && turn.status !== 'failed')
      report('messages', turnItem, `${turn.status} turn has no userSeq`);
    points(turn.userSeq, 'user');
    if (turn.status === 'succeeded') {
      if (turn.replySeq === undefined) report('messages', turnItem, 'succeeded turn has no replySeq');
      points(turn.replySeq, 'assistant');
    }
  }
}

/** Every audit chain of the partition verifies and ends at its head (thread, secret state or agent audit head). */
function checkAuditChains(pk: string, partition: Item[], report: Report): void {
  const chains = new Map<string, AuditEntry[]>();
  for (const item of partition) {
    if (!String(item.sk).startsWith('AUDIT#')) continue;
    const entry = stripKeys(item) as unknown as AuditEntry;
    if (item.sk !== keys.audit(entry.chain, entry.seq))
      report(
        'audit',
        at(pk, String(item.sk)),
        `entry of chain ${entry.chain} seq ${entry.seq} stored under another key`,
      );
    chains.set(entry.chain, [...(chains.get(entry.chain) ?? []), entry]);
  }
  const head = auditHead(pk, partition);
  for (const [chain, entries] of chains) {
    entries.sort((a, b) => a.seq - b.seq);
    const broken = verifyChain(entries);
    if (broken) report('audit', at(pk, keys.audit(chain, broken.seq)), `chain ${chain} broken: ${broken.problem}`);
    if (head?.chain === chain) {
      const last = entries.at(-1)!;
      if (last.seq !== head.seq || last.hash !== head.hash) {
        report('audit', at(pk, head.sk), `chain ${chain} ends at seq ${last.seq}, the head says seq ${head.seq}`);
      }
    }
  }
  if (head && head.seq > 0 && !chains.has(head.chain))
    report('audit', at(pk, head.sk), `head at seq ${head.seq} of chain ${head.chain}, which has no entries`);
}

/** Where a partition records the head of its current chain, if it has one. */
function auditHead(
  pk: string,
  partition: Item[],
): { chain: string; sk: string; seq: number; hash: string | undefined } | undefined {
  const find = (sk: string) => partition.find((item) => item.sk === sk);
  const headOf = (item: Item | undefined, chain: string) =>
    item
      ? { chain, sk: String(item.sk), seq: Number(item.auditSeq ?? 0), hash: item.auditHash as string | undefined }
      : undefined;
  if (pk.startsWith('THREAD#')) {
    const meta = find('META');
    return meta ? headOf(meta, String(meta.threadId)) : undefined;
  }
  if (pk.startsWith('SECRET#')) {
    const name = pk.slice('SECRET#'.length);
    return headOf(find(keys.secretState(name).sk), secretChain(name));
  }
  if (pk.startsWith('AGENT#')) {
    const agent = pk.slice('AGENT#'.length);
    return headOf(find(keys.agentAuditHead(agent).sk), agentChain(agent));
  }
  return undefined;
}

/** Agent counters equal the live threads and held leases; the deployment counter equals all live threads; within limits. */
function checkCounters(
  partitions: Map<string, Item[]>,
  threads: Thread[],
  config: InvariantConfig | undefined,
  report: Report,
): void {
  const counted = new Map<string, { activeThreads: number; runningTurns: number }>();
  const tally = (agent: string) =>
    counted.get(agent) ?? counted.set(agent, { activeThreads: 0, runningTurns: 0 }).get(agent)!;
  let live = 0;
  for (const thread of threads) {
    if (thread.status !== 'active') continue;
    live += 1;
    tally(thread.agent).activeThreads += 1;
    if (thread.lease) tally(thread.agent).runningTurns += 1;
  }
  const agents = new Set(counted.keys());
  for (const pk of partitions.keys()) if (pk.startsWith('AGENT#')) agents.add(pk.slice('AGENT#'.length));
  for (const agent of [...agents].sort()) {
    const key = keys.agentCounters(agent);
    const item = partitions.get(key.pk)?.find((i) => i.sk === key.sk);
    const stored = { activeThreads: Number(item?.activeThreads ?? 0), runningTurns: Number(item?.runningTurns ?? 0) };
    const expected = counted.get(agent) ?? { activeThreads: 0, runningTurns: 0 };
    const name = at(key.pk, key.sk);
    const limits = config?.agents?.[agent];
    for (const field of ['activeThreads', 'runningTurns'] as const) {
      if (stored[field] < 0) report('counters', name, `${field} is negative (${stored[field]})`);
      if (stored[field] !== expected[field]) {
        report(
          'counters',
          name,
          `${field} is ${stored[field]} but ${expected[field]} ${field === 'activeThreads' ? 'live threads' : 'leases are held'}`,
        );
      }
    }
    if (limits && stored.activeThreads > limits.maxActiveThreads)
      report(
        'counters',
        name,
        `activeThreads ${stored.activeThreads} above maxActiveThreads ${limits.maxActiveThreads}`,
      );
    if (limits && stored.runningTurns > limits.maxConcurrentTurns)
      report(
        'counters',
        name,
        `runningTurns ${stored.runningTurns} above maxConcurrentTurns ${limits.maxConcurrentTurns}`,
      );
  }
  const key = keys.deploymentCounters();
  const deployment = Number(partitions.get(key.pk)?.find((i) => i.sk === key.sk)?.activeThreads ?? 0);
  const name = at(key.pk, key.sk);
  if (deployment < 0) report('counters', name, `activeThreads is negative (${deployment})`);
  if (deployment !== live) report('counters', name, `activeThreads is ${deployment} but ${live} threads are live`);
  const maxThreads = config?.threadManagement?.maxThreads;
  if (maxThreads !== undefined && deployment > maxThreads)
    report('counters', name, `activeThreads ${deployment} above maxThreads ${maxThreads}`);
}
