import { describe, expect, it } from 'vitest';
import { logger } from '../../functions/shared/logger.js';
import { heldOutput } from '../support/quiet-output.js';

// The product's own log lines, WARN and ERROR included, are held back while a test runs (and shown
// only if it fails): a passing test prints nothing.

describe('test output', () => {
  it("holds the product logger's WARN and ERROR lines instead of printing them", () => {
    const before = heldOutput().length;
    logger.warn('quiet-output check: a warning', { probe: 'warn' });
    logger.error('quiet-output check: an error', { probe: 'error', error: new Error('boom') });
    const lines = heldOutput()
      .slice(before)
      .map(({ stream, text }) => ({ stream, line: JSON.parse(text) as { level: string; probe: string } }));
    // Powertools writes WARN and above to stderr; both are held the same way.
    expect(lines.map(({ stream, line }) => [stream, line.level, line.probe])).toEqual([
      ['stderr', 'WARN', 'warn'],
      ['stderr', 'ERROR', 'error'],
    ]);
  });

  it('starts every test with nothing held from the one before', () => {
    expect(heldOutput().filter(({ text }) => text.includes('quiet-output check'))).toEqual([]);
  });
});
