import type { ApiConnection } from './connection.js';
import { CliError } from './errors.js';

/** Query parameters; undefined ones are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** How long one request may take before the CLI gives up (the longest route, a turn long-poll, takes ≤ 29 s). */
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * The one HTTP client of the CLI: JSON in and out, `Authorization: Bearer <key>`, and the API's
 * error shape `{"error": {"code", "message", "details"?}}` turned into a CliError with that code.
 */
export class ApiClient {
  private readonly base: string;

  constructor(
    private readonly connection: ApiConnection,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    // A base with a path (a stage, a proxy prefix) is kept: paths are appended, not resolved.
    this.base = connection.url.replace(/\/+$/, '');
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body, query });
  }

  delete<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, { query });
  }

  async request<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const url = `${this.base}${path}${queryString(options.query)}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.connection.key}`,
      accept: 'application/json',
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const { cause } = error as { cause?: { code?: string; message?: string } };
      const reason =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs / 1000} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      const hint = this.connection.urlSource.endsWith('.json')
        ? ' (is `npm start` still running? the file may be stale)'
        : '';
      throw new CliError(
        'unreachable',
        `cannot reach ${this.base} from ${this.connection.urlSource}: ${reason}${hint}`,
      );
    }
    const text = await response.text();
    let payload: unknown;
    if (text.length > 0) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = undefined;
        if (response.ok)
          throw new CliError(
            'bad_response',
            `${method} ${path} answered ${response.status} with a body that is not JSON`,
          );
      }
    }
    if (!response.ok) {
      const error = (payload as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
        ?.error;
      if (error && typeof error.code === 'string') {
        throw new CliError(
          error.code,
          typeof error.message === 'string' ? error.message : `HTTP ${response.status}`,
          error.details,
          response.status,
        );
      }
      throw new CliError(
        `http_${response.status}`,
        `${method} ${path} answered ${response.status} ${response.statusText}`.trimEnd(),
        undefined,
        response.status,
      );
    }
    return payload as T;
  }
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A path segment (a secret name, a session key), encoded. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
