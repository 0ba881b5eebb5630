const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The pattern every duration string in the config must match, e.g. "30s", "30m", "1h", "7d". */
export const DURATION_PATTERN = /^([1-9]\d{0,8})(ms|s|m|h|d)$/;

/** Converts a duration string ("30s", "30m", "1h", "7d") to milliseconds; throws on anything else. */
export function durationMs(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) throw new RangeError(`not a duration: ${JSON.stringify(text)} (expected e.g. "30s", "30m", "1h", "7d")`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Converts a duration string to whole seconds, rounding up (a Lambda or HTTP timeout cannot be fractional). */
export function durationSeconds(text: string): number {
  return Math.ceil(durationMs(text) / 1_000);
}
