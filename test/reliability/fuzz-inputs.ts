import fc from 'fast-check';
import { z } from 'zod';
import type { RouteDefinition } from '../../lib/api/routes.js';

/**
 * Generators of the schema-driven fuzzer (test/reliability/fuzz.test.ts). Everything is drawn from
 * one seeded generator, so a run is reproduced by its printed seed; the shapes of the requests
 * come from the route table and from each handler's own zod schemas (as JSON Schema), never from
 * a hand-written list per route.
 */

/** The subset of JSON Schema that z.toJSONSchema emits for the API's schemas. */
export interface JsonSchema {
  type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'null';
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

/** The zod schemas a handler validates its request with (what apiHandler receives). */
export interface RouteSchemas {
  body?: z.ZodType;
  query?: z.ZodType;
  path?: z.ZodType;
}

/** A route's schemas as JSON Schema (input side: what a client may send). */
export interface RouteJsonSchemas {
  body?: JsonSchema;
  query?: JsonSchema;
  path?: JsonSchema;
}

/** The JSON Schema of each part; refinements and transforms are not representable and only loosen it. */
export function jsonSchemasOf(schemas: RouteSchemas): RouteJsonSchemas {
  const convert = (schema: z.ZodType | undefined) =>
    schema ? (z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema) : undefined;
  const out: RouteJsonSchemas = {};
  for (const part of ['body', 'query', 'path'] as const) {
    const converted = convert(schemas[part]);
    if (converted) out[part] = converted;
  }
  return out;
}

/** A small, fast seeded PRNG (mulberry32): the whole run is a function of its seed. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(values: readonly T[]): T {
    if (values.length === 0) throw new Error('pick from an empty list');
    return values[this.int(values.length)]!;
  }

  /** One key of a weight table, drawn by weight. */
  weighted<K extends string>(weights: Partial<Record<K, number>>): K {
    const entries = Object.entries(weights).filter(([, w]) => (w as number) > 0) as [K, number][];
    let roll = this.next() * entries.reduce((sum, [, w]) => sum + w, 0);
    for (const [key, weight] of entries) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }
}

/** A string matching a schema pattern, drawn by fast-check from a seed of this run's generator. */
function matching(pattern: string, rng: Rng): string {
  return fc.sample(fc.stringMatching(new RegExp(pattern)), { seed: rng.int(2 ** 31), numRuns: 1 })[0]!;
}

/** Strings that break parsers, encoders and key builders. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  '\t\n\r',
  '..',
  '../../etc/passwd',
  '%2e%2e%2f',
  'a/b',
  'THREAD#x',
  'x#META',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  '-1',
  '1e309',
  'NaN',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style probe, sent as a plain string
  '${jndi:ldap://x}',
  'ünïcödé',
  '日本語のテキスト',
  '🧵🔥',
  '\uD800',
  'a\u202Eb',
  '\uFEFF',
  'e\u0301',
  'x'.repeat(129),
  'x'.repeat(193),
  'x'.repeat(5000),
];

/** Deeply nested, oddly typed JSON values (nested junk). */
function junk(rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, -0, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, Number.MIN_VALUE]);
    case 3:
      return rng.pick(NASTY_STRINGS);
    case 4:
      return '';
    case 5:
      return {};
    case 6:
      return Array.from({ length: rng.int(4) }, () => junk(rng, depth + 1));
    case 7:
      return Object.fromEntries(
        Array.from({ length: rng.int(4) }, () => [
          rng.pick(['a', '__proto__', 'agent', 'input', '', '🧵', 'x'.repeat(70)]),
          junk(rng, depth + 1),
        ]),
      );
    default:
      return { nested: { deeper: [junk(rng, depth + 2)] } };
  }
}

/** Real values the fuzzer has seen or knows, by property name (sessionKey, turnId, name, cursor…). */
export type Pools = Map<string, string[]>;

/** Adds a value to a pool (bounded, without duplicates). */
export function remember(pools: Pools, name: string, value: string): void {
  const pool = pools.get(name) ?? [];
  if (!pool.includes(value)) pool.push(value);
  if (pool.length > 200) pool.shift();
  pools.set(name, pool);
}

/** Generation context: the seeded generator, the pools of real values, and overrides by property name. */
export interface GenContext {
  rng: Rng;
  pools: Pools;
  /**
   * Values forced for a property when a valid value is generated (e.g. `wait` → 0, so a valid long
   * poll never holds the sequential run for 25 s; invalid waits are still generated).
   */
  fixed?: Record<string, unknown>;
}

/** A value the schema accepts, preferring real values from the pools so handlers go deep. */
export function validValue(schema: JsonSchema, ctx: GenContext, name?: string): unknown {
  const { rng, pools } = ctx;
  if (name && ctx.fixed && name in ctx.fixed) return ctx.fixed[name];
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return validValue(rng.pick(variants), ctx, name);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return rng.pick(schema.enum);
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(key) || rng.chance(0.4)) out[key] = validValue(property, ctx, key);
      }
      if (typeof schema.additionalProperties === 'object' && rng.chance(0.5)) {
        for (let i = rng.int(4); i > 0; i -= 1) {
          const key = schema.propertyNames?.pattern ? matching(schema.propertyNames.pattern, rng) : `k${i}`;
          out[key] = validValue(schema.additionalProperties, ctx);
        }
      }
      return out;
    }
    case 'array':
      return Array.from({ length: rng.int(3) }, () => validValue(schema.items ?? {}, ctx));
    case 'boolean':
      return rng.chance(0.5);
    case 'integer':
    case 'number': {
      const lo = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
      const hi = Math.min(
        schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : lo + 1000),
        lo + 1_000_000,
      );
      const value = rng.pick([lo, hi, rng.between(lo, hi)]);
      return schema.type === 'integer' ? Math.trunc(value) : value;
    }
    case 'string': {
      const pool = name ? pools.get(name) : undefined;
      if (pool?.length && rng.chance(0.75)) return rng.pick(pool);
      if (schema.format === 'date-time') return new Date(Date.now() - rng.int(10 * 86_400_000)).toISOString();
      if (schema.pattern) return matching(schema.pattern, rng);
      const min = schema.minLength ?? 0;
      const max = Math.min(schema.maxLength ?? min + 40, min + 200);
      const length = rng.pick([min, max, rng.between(min, max)]);
      const alphabet = rng.chance(0.7) ? 'abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789' : 'aé日🧵';
      return Array.from({ length: Math.max(min, length) }, () => rng.pick([...alphabet]))
        .join('')
        .slice(0, schema.maxLength ?? Infinity);
    }
    case 'null':
      return null;
    default:
      return junk(rng);
  }
}

/** Values at and just over each bound of a scalar schema (both sides), and wrong-typed stand-ins. */
export function boundaryValues(schema: JsonSchema): unknown[] {
  const out: unknown[] = [];
  if (schema.type === 'string') {
    const min = schema.minLength ?? 0;
    out.push('', 'a'.repeat(min), 'a'.repeat(Math.max(0, min - 1)));
    if (schema.maxLength !== undefined)
      out.push(
        'a'.repeat(schema.maxLength),
        'a'.repeat(schema.maxLength + 1),
        'é'.repeat(schema.maxLength + 1),
        '🧵'.repeat(schema.maxLength),
      );
    out.push(123, null, true, ['a'], { a: 'b' });
  } else if (schema.type === 'integer' || schema.type === 'number') {
    for (const bound of [schema.minimum, schema.maximum])
      if (bound !== undefined) out.push(bound, bound - 1, bound + 1, bound + 0.5);
    out.push(-1, 0, 2 ** 53, -(2 ** 53), 1e21, 0.1, '1', 'one', null, true, [], {});
  } else if (schema.type === 'boolean') {
    out.push('true', 'false', 0, 1, null, 'yes', [], {});
  } else if (schema.enum) {
    out.push('', String(schema.enum[0]).toUpperCase(), `${String(schema.enum[0])} `, 0, null);
  } else {
    out.push(null, 0, '', [], {}, 'x'.repeat(10_000));
  }
  return out;
}

/** A value of a property that the schema must refuse (or at least survive): a bound, a wrong type, junk. */
export function brokenValue(schema: JsonSchema, ctx: GenContext): unknown {
  const { rng } = ctx;
  switch (rng.int(4)) {
    case 0:
      return rng.pick(boundaryValues(schema));
    case 1:
      return rng.pick(NASTY_STRINGS);
    case 2:
      return junk(rng);
    default:
      return schema.pattern
        ? `${matching(schema.pattern, rng)}${rng.pick(['$', ' ', '/', '#', 'ü', '\n'])}`
        : rng.pick(boundaryValues(schema));
  }
}

/** A whole body that the schema must refuse (or survive): wrong types, missing/extra fields, junk, empty. */
export function brokenBody(schema: JsonSchema, ctx: GenContext): unknown {
  const { rng } = ctx;
  const base = validValue(schema, ctx);
  const record =
    base && typeof base === 'object' && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  const properties = Object.entries(schema.properties ?? {});
  switch (rng.int(8)) {
    case 0:
      return rng.pick([null, 0, 'string', true, [], [record], '', Number.POSITIVE_INFINITY]);
    case 1: {
      // One field broken, the others valid: the error must name that field's path.
      if (properties.length === 0) return { ...record, unexpected: junk(rng) };
      const [key, property] = rng.pick(properties);
      return { ...record, [key]: brokenValue(property, ctx) };
    }
    case 2: {
      const required = schema.required ?? [];
      if (required.length === 0)
        return { ...record, [rng.pick(['extra', '__proto__', 'constructor', 'toString', ''])]: junk(rng) };
      const missing = rng.pick(required);
      return Object.fromEntries(Object.entries(record).filter(([key]) => key !== missing));
    }
    case 3:
      return { ...record, [rng.pick(['extra', 'Agent', 'INPUT', 'sessionkey', '🧵', 'x'.repeat(300)])]: junk(rng) };
    case 4:
      return {};
    case 5:
      return Object.fromEntries(properties.map(([key]) => [key, junk(rng)]));
    case 6:
      return {
        ...record,
        nested: { a: [{ b: [{ c: [record] }] }] },
        [rng.pick(properties)?.[0] ?? 'x']: { a: record },
      };
    default: {
      if (properties.length === 0) return [record];
      const [key, property] = rng.pick(properties);
      return { ...record, [key]: rng.pick(boundaryValues(property)) };
    }
  }
}

/** Raw request bodies that are not what they claim to be. */
export function rawBody(schema: JsonSchema | undefined, ctx: GenContext): { body: string | Buffer; label: string } {
  const { rng } = ctx;
  const valid = JSON.stringify(schema ? validValue(schema, ctx) : {});
  const firstKey = Object.keys(schema?.properties ?? { x: 0 })[0] ?? 'x';
  const variants: Array<[string, () => string | Buffer]> = [
    ['truncated JSON', () => valid.slice(0, Math.max(1, rng.int(valid.length)))],
    ['trailing garbage', () => `${valid}}`],
    ['two documents', () => `${valid}${valid}`],
    [
      'repeated key, junk first',
      () => valid.replace(/^\{/, `{"${firstKey}":${JSON.stringify(junk(rng))},`).replace(/,}$/, '}'),
    ],
    [
      'repeated key, junk last',
      () =>
        valid === '{}'
          ? `{"${firstKey}":1,"${firstKey}":{}}`
          : valid.replace(/}$/, `,"${firstKey}":${JSON.stringify(junk(rng))}}`),
    ],
    ['__proto__ key', () => valid.replace(/^\{/, '{"__proto__":{"admin":true},').replace(/,}$/, '}')],
    ['byte order mark', () => `\uFEFF${valid}`],
    ['single quotes', () => valid.replace(/"/g, "'")],
    ['NaN literal', () => `{"${firstKey}":NaN}`],
    ['comment', () => `/* hi */${valid}`],
    ['only whitespace', () => ' \n\t '],
    ['JSON null', () => 'null'],
    ['JSON string', () => '"just a string"'],
    ['JSON number', () => '12345678901234567890'],
    ['deep nesting', () => `${'['.repeat(5000)}${']'.repeat(5000)}`],
    ['deep object nesting', () => `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`],
    [
      'invalid UTF-8',
      () => Buffer.concat([Buffer.from(`{"${firstKey}":"`), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')]),
    ],
    ['NUL bytes', () => Buffer.from([0, 0, 0, 0])],
    ['lone surrogate escape', () => `{"${firstKey}":"\\ud800"}`],
    ['huge number', () => `{"${firstKey}":1${'0'.repeat(400)}}`],
  ];
  const [label, make] = rng.pick(variants);
  return { label, body: make() };
}

/** Content types a client may send with a JSON body: JSON ones (any case, charset parameters) and others. */
export const CONTENT_TYPES: ReadonlyArray<string | null> = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=UTF-16',
  'application/json ; charset="utf-8"',
  null,
  '',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/jsonp',
  'application/vnd.api+json',
  'application/octet-stream',
  'json',
  ';;;',
];

/** Authorization headers that identify nobody. */
export const GARBAGE_AUTH: readonly string[] = [
  'Bearer',
  'Bearer ',
  'Bearer not-a-real-key',
  'Basic dXNlcjpwYXNz',
  'Token test-key-tenant-a',
  `Bearer ${'k'.repeat(513)}`,
  'Bearer a b c',
  'Bearer \u00e9\u00e8\u00ea',
  'bearer',
  'Bearer tb_0000000000000000000000000000000000000000000',
  ',',
];

/** Raw path segments (already on the wire) that a path parameter must refuse or survive. */
export function brokenSegment(schema: JsonSchema | undefined, ctx: GenContext): string {
  const { rng } = ctx;
  const variants: Array<() => string> = [
    () =>
      rng.pick([
        '',
        '%20',
        '.',
        '%2E',
        '..',
        '%2E%2E',
        '%2e%2e%2f',
        '%00',
        '%0A',
        '-',
        '_',
        ':',
        '%3A',
        '~',
        '%7E',
        '%25',
        '%ZZ',
        '%',
        '%C3%28',
        '%F0%9F%A7%B5',
        '%E2%80%AE',
        '%EF%BB%BF',
        '*',
        '%2A',
        '@',
        '%40',
        '+',
        '%2B',
        '%23',
        '%3F',
        ';',
        ',',
        '%27',
        '%22',
        '&',
        '=',
      ]),
    () => encode(rng.pick(NASTY_STRINGS)) || '%20',
    () => 'a'.repeat(rng.pick([128, 129, 191, 192, 193, 256, 1000, 2000])),
    () => `a${'%2F'.repeat(rng.between(1, 3))}b`,
    () =>
      schema?.pattern
        ? encode(`${matching(schema.pattern, rng)}${rng.pick(['/', '#', ' ', '$', '%', 'é', '\u0000'])}`)
        : 'x%2Fy',
    () =>
      encode(
        rng.pick([
          'THREAD#victim',
          'AGENT#main',
          'SECRET#anthropic-api-key',
          'META',
          'x#TURN#turn_00000000000000000000000000',
        ]),
      ),
    () => encode(String(rng.pick(boundaryValues(schema ?? { type: 'string' })))),
  ];
  return rng.pick(variants)();
}

/** Query parameters as a raw query string (no leading "?"): valid, broken, unknown and repeated keys. */
export function queryString(schema: JsonSchema | undefined, ctx: GenContext, broken: boolean): string {
  const { rng } = ctx;
  const pairs: Array<[string, string]> = [];
  const properties = Object.entries(schema?.properties ?? {});
  const valid = schema ? (validValue(schema, ctx) as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(valid)) pairs.push([key, String(value)]);
  if (broken) {
    const mode = rng.int(6);
    if (mode === 0 || properties.length === 0)
      pairs.push([
        rng.pick(['unknown', 'LIMIT', '__proto__', 'constructor', 'a[b]', '🧵', '']),
        rng.pick(NASTY_STRINGS),
      ]);
    else if (mode === 1) {
      const [key, property] = rng.pick(properties);
      pairs.push([key, String(brokenValue(property, ctx))]);
    } else if (mode === 2) {
      // Repeated key: the gateway joins the values with commas.
      const [key, property] = rng.pick(properties);
      pairs.push([key, String(validValue(property, ctx, key))], [key, String(validValue(property, ctx, key))]);
    } else if (mode === 3) {
      const [key] = rng.pick(properties);
      pairs.push([key, '']);
    } else if (mode === 4) {
      const [key, property] = rng.pick(properties);
      pairs.push([key, String(rng.pick(boundaryValues(property)))]);
    } else {
      return `${pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}${rng.pick(['&&&', '&=', '&%ZZ=1', '&limit', '&a=%', '&a=b=c', '#frag', '&%00=%00'])}`;
    }
  }
  return pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
}

/** Percent-encodes a string; a lone surrogate becomes the (invalid UTF-8) bytes of a surrogate, as a sloppy client would send it. */
export function encode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...value].map((ch) => (/[\uD800-\uDFFF]/.test(ch) ? '%ED%A0%80' : encodeURIComponent(ch))).join('');
  }
}

/** Path parameter names of a route path ("/v1/threads/{sessionKey}" → ["sessionKey"]). */
export function pathParams(route: Pick<RouteDefinition, 'path'>): string[] {
  return [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
}

/** A route path with its parameters replaced by raw (already encoded) segments. */
export function fillPath(route: Pick<RouteDefinition, 'path'>, segments: Record<string, string>): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => segments[name] ?? '');
}

/** A JSON body of exactly `bytes` bytes (valid JSON: the value padded with trailing whitespace). */
export function padTo(json: string, bytes: number): string {
  const length = Buffer.byteLength(json);
  return length >= bytes ? json : json + ' '.repeat(bytes - length);
}
