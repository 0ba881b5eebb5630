import { describe, expect, it } from 'vitest';
import { holdsLiveLease, leaseExpired, leaseMs, leaseTakeover } from '../../lib/turns/lease.js';
import { aThread, aTurn, NOW } from './turn-fixtures.js';

const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();
const lease = (expiresInMs: number) => ({ turnId: 'turn_a', leaseExpiresAt: at(expiresInMs), fencingToken: 3 });

describe('lease length', () => {
  it('is three timeouts (main, sub-agents, coalesce) plus a 5 s grace', () => {
    expect(leaseMs({ timeout: '30s' })).toBe(95_000);
    expect(leaseMs({ timeout: '2m' })).toBe(365_000);
  });

  it('rounds a sub-second timeout up to whole seconds, as the workflow does', () => {
    expect(leaseMs({ timeout: '1500ms' })).toBe(11_000);
  });
});

describe('lease expiry', () => {
  it('expires at its leaseExpiresAt, not after', () => {
    expect(leaseExpired(lease(1), NOW)).toBe(false);
    expect(leaseExpired(lease(0), NOW)).toBe(true);
    expect(leaseExpired(lease(-1), NOW)).toBe(true);
  });

  it('a thread without a lease, or with an expired one, is free', () => {
    expect(holdsLiveLease(aThread(), NOW)).toBe(false);
    expect(holdsLiveLease(aThread({ lease: lease(-1) }), NOW)).toBe(false);
    expect(holdsLiveLease(aThread({ lease: lease(1_000) }), NOW)).toBe(true);
  });
});

describe('takeover', () => {
  it('is denied while a running turn is within its lease', () => {
    expect(leaseTakeover(aThread({ lease: lease(1_000) }), aTurn({ status: 'running' }), NOW)).toBe('denied');
  });

  it('is an expiry once a running turn outlives its lease', () => {
    expect(leaseTakeover(aThread({ lease: lease(0) }), aTurn({ status: 'running' }), NOW)).toBe('expired');
  });

  it('is an orphan when the turn is missing or final, even within the lease', () => {
    expect(leaseTakeover(aThread({ lease: lease(1_000) }), undefined, NOW)).toBe('orphaned');
    for (const status of ['succeeded', 'failed', 'timed_out'] as const)
      expect(leaseTakeover(aThread({ lease: lease(1_000) }), aTurn({ status }), NOW)).toBe('orphaned');
  });
});
