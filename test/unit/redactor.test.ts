import { describe, expect, it } from 'vitest';
import { MIN_REDACTED_LENGTH, Redactor } from '../../lib/secrets/redactor.js';

describe('Redactor', () => {
  it('replaces every known value by its name, longest first, and counts each hit as an exposure event', () => {
    const redactor = new Redactor();
    const hits: [string, number][] = [];
    redactor.onExposure((name, count) => hits.push([name, count]));
    redactor.register('short', 'sk-abcdefgh');
    redactor.register('long', 'sk-abcdefgh-ijkl');
    expect(redactor.redact('a sk-abcdefgh-ijkl b sk-abcdefgh c sk-abcdefgh')).toBe(
      'a [REDACTED:long] b [REDACTED:short] c [REDACTED:short]',
    );
    expect(hits).toEqual([
      ['long', 1],
      ['short', 2],
    ]);
  });

  it('keeps every version of a secret and scrubs nested values and keys of plain objects', () => {
    const redactor = new Redactor();
    redactor.register('key', 'value-one-0001');
    redactor.register('key', 'value-two-0002');
    const input = { a: ['x value-one-0001', { b: 'value-two-0002' }], 'value-one-0001': 1, n: 5, d: new Date(0) };
    const output = redactor.redactDeep(input);
    expect(output).toEqual({
      a: ['x [REDACTED:key]', { b: '[REDACTED:key]' }],
      '[REDACTED:key]': 1,
      n: 5,
      d: new Date(0),
    });
    expect(input.a[0]).toBe('x value-one-0001'); // a copy, the input is untouched
    expect(redactor.size).toBe(2);
  });

  it('also finds a value with a quote, backslash or newline in already-serialised JSON', () => {
    const redactor = new Redactor();
    redactor.register('odd', 'line1\nwith "quote" \\ end');
    expect(redactor.redact(JSON.stringify({ v: 'x line1\nwith "quote" \\ end y' }))).toBe('{"v":"x [REDACTED:odd] y"}');
  });

  it(`ignores values shorter than ${MIN_REDACTED_LENGTH} characters and leaves text alone when nothing is known`, () => {
    const redactor = new Redactor();
    const text = 'nothing to see';
    expect(redactor.redact(text)).toBe(text);
    redactor.register('tiny', 'abc');
    expect(redactor.redact('abc abc')).toBe('abc abc');
    expect(redactor.size).toBe(0);
  });
});
