/**
 * The wait an error response asks for, in ms: `retry-after-ms` first, then `retry-after` (seconds
 * or an HTTP date); undefined when it gives none. `get` reads a header by lower-case name.
 */
export function retryAfterMs(get: (name: string) => string | null | undefined): number | undefined {
  const millis = Number.parseFloat(get('retry-after-ms') ?? '');
  if (Number.isFinite(millis) && millis >= 0) return Math.ceil(millis);
  const value = get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
