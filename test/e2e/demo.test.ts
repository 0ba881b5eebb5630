import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, TEST_KEYS, type TestStack } from '../support/local-stack.js';
import { spawnCollected } from '../support/processes.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());

describe('npm run demo', () => {
  it('plays the BTC scenario: one coalesced reply, the child threads and a verified audit trail', async () => {
    // Asynchronously: the stack answering the demo runs in this very process.
    const run = spawnCollected('npm', ['run', '--silent', 'demo'], {
      env: { ...process.env, TB: stack.url, KEY: TEST_KEYS.tenantA },
    });
    expect(await run.exit).toBe(0);
    const out = run.output();
    expect(out).not.toContain('demo failed');
    expect(out).toMatch(
      /== the one coalesced reply ==\n\[offline trading\] Combined answer to "analyse the BTC price trend":/,
    );
    expect(out).toMatch(/- data: \[offline data\] Collected 30 daily closes/);
    expect(out).toMatch(/- analysis: \[offline analysis\] Trend for/);
    expect(out).toMatch(/s-[0-9a-z]{26}:data\s+agent=data\s+status=succeeded/);
    expect(out).toMatch(/s-[0-9a-z]{26}:analysis\s+agent=analysis\s+status=succeeded/);
    expect(out).toMatch(/\(hash chain verified\)\n\s+#1 \S+ thread_spawn/);
    expect(out).toMatch(/#2 \S+ agent_exec/);
    expect(out).not.toContain('BROKEN');
  });
});
