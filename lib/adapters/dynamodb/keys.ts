import { createHash } from 'node:crypto';
import { INDEX_SHARDS } from './table-definition.js';

/** Key builders: the only place that knows how items are laid out in the table. */
export const keys = {
  thread: (tenant: string, sessionKey: string) => ({ pk: `THREAD#${tenant}#${sessionKey}`, sk: 'META' }),
  threadPk: (tenant: string, sessionKey: string) => `THREAD#${tenant}#${sessionKey}`,
  message: (seq: number) => `MSG#${pad(seq)}`,
  turn: (turnId: string) => `TURN#${turnId}`,
  queue: (queueSeq: number) => `QUEUE#${pad(queueSeq)}`,
  /** A note an agent keeps in its thread (memory.write). */
  note: (key: string) => `NOTE#${key}`,
  audit: (chain: string, seq: number) => `AUDIT#${chain}#${pad(seq)}`,
  apiKey: (hash: string) => ({ pk: `APIKEY#${hash}`, sk: 'META' }),
  agentCounters: (agent: string) => ({ pk: `AGENT#${agent}`, sk: 'COUNTERS' }),
  deploymentCounters: () => ({ pk: 'DEPLOYMENT', sk: 'COUNTERS' }),
  /** Per-secret state: cache epoch, access counts, the head of its audit chain. */
  secretState: (name: string) => ({ pk: `SECRET#${name}`, sk: 'STATE' }),
  /** A retired key version waiting for its revocation (provider-admin rotation). */
  secretRevocation: (name: string, versionId: string) => ({ pk: `SECRET#${name}`, sk: `REVOKE#${versionId}` }),
  /** The head of an agent's own audit chain (events outside any thread, e.g. secret_denied). */
  agentAuditHead: (agent: string) => ({ pk: `AGENT#${agent}`, sk: 'AUDITHEAD' }),
  maintenanceCursor: (job: string) => ({ pk: `MAINTENANCE#${job}`, sk: 'CURSOR' }),
  providerCircuit: (provider: string) => ({ pk: `PROVIDER#${provider}`, sk: 'CIRCUIT' }),
  tenantIndex: (tenant: string) => `TENANT#${tenant}`,
  tenantSort: (createdAt: string, sessionKey: string) => `${createdAt}#${sessionKey}`,
  activeIndex: (tenant: string, sessionKey: string) => `ACTIVE#${shardOf(`${tenant}#${sessionKey}`)}`,
  activeShard: (shard: number) => `ACTIVE#${shard}`,
  activeSort: (lastActiveAt: string, tenant: string, sessionKey: string) => `${lastActiveAt}#${tenant}#${sessionKey}`,
  auditIndex: (at: string, pk: string) => `AUDIT#${at.slice(0, 10)}#${shardOf(pk)}`,
  auditSort: (at: string, pk: string, seq: number) => `${at}#${pk}#${pad(seq)}`,
};

/** Zero-pads sequence numbers so they sort as strings. */
export function pad(seq: number): string {
  return String(seq).padStart(10, '0');
}

/** A stable shard in [0, INDEX_SHARDS) for a value. */
export function shardOf(value: string): number {
  return createHash('sha1').update(value).digest().readUInt16BE(0) % INDEX_SHARDS;
}
