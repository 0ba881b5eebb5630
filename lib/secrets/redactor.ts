/** Values shorter than this are never registered: redacting "abc" everywhere would mangle text, and such a value is no key. */
export const MIN_REDACTED_LENGTH = 8;

/** Called once per redacted occurrence: an exposure-risk event (the value is not passed). */
export type ExposureListener = (secretName: string, count: number) => void;

/**
 * Every secret value this process has seen (all versions), and the one function that scrubs them
 * from text before it leaves the process. Process-wide by nature: a value a handler resolved must
 * be scrubbed from every log line, response and write of the same process.
 */
export class Redactor {
  private readonly values = new Map<string, string>();
  private listeners: ExposureListener[] = [];
  /** Longest first, so a value that contains another is replaced whole. */
  private ordered: [string, string][] = [];

  /** Remembers a secret value (a new version of a secret adds to, never replaces, the old ones). */
  register(secretName: string, value: string): void {
    if (value.length < MIN_REDACTED_LENGTH || this.values.get(value) === secretName) return;
    this.values.set(value, secretName);
    // Its JSON-escaped form too (a value with a quote, a backslash or a newline), for text that is
    // already serialised, such as a response body.
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) this.values.set(escaped, secretName);
    this.ordered = [...this.values].sort(([a], [b]) => b.length - a.length);
  }

  /** Subscribes to exposure-risk events; returns the unsubscribe function. */
  onExposure(listener: ExposureListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** The text with every known secret value replaced by `[REDACTED:<name>]`. */
  redact(text: string): string {
    if (this.ordered.length === 0) return text;
    let out = text;
    for (const [value, name] of this.ordered) {
      if (!out.includes(value)) continue;
      const parts = out.split(value);
      out = parts.join(`[REDACTED:${name}]`);
      for (const listener of this.listeners) listener(name, parts.length - 1);
    }
    return out;
  }

  /** A deep copy of a JSON-like value with every string redacted (keys included). */
  redactDeep<T>(value: T): T {
    if (this.ordered.length === 0) return value;
    return this.walk(value) as T;
  }

  /** How many values are known (for tests and diagnostics; never the values). */
  get size(): number {
    return this.values.size;
  }

  private walk(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) return value.map((v) => this.walk(v));
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.redact(k), this.walk(v)]));
    }
    return value;
  }
}

/** The process's redactor: the resolver registers every value it fetches; every exit path redacts with it. */
export const processRedactor = new Redactor();
