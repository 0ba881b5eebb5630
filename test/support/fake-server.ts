import type { AddressInfo, Server } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * The scaffolding the loopback fake provider servers (fake-anthropic, fake-openai: HTTP/1.1;
 * fake-bedrock: HTTP/2 cleartext) share: the responder script with its default, the delayed and
 * hung responses, waiting for them until the client goes away, reading and recording a request
 * with its JSON body, the keys a fake accepts, and listening on 127.0.0.1 with a close that drops
 * open connections.
 */

/** One request a fake received: headers as node parsed them (lower-case names), body as parsed JSON. */
export interface RecordedHttpRequest<Headers> {
  method: string;
  path: string;
  headers: Headers;
  body: any;
}

/** A request's method, path, headers and body, as a fake records them. */
export function recordedHttp<Headers>(
  req: { method?: string; url?: string; headers: Headers },
  body: unknown,
): RecordedHttpRequest<Headers> {
  return { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
}

/**
 * A request's body, parsed as JSON: undefined when empty, the raw text when it is not JSON. A
 * request the client abandons before its body ends never resolves (there is nothing to answer).
 */
export function readJsonBody(req: Readable): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(raw === '' ? undefined : JSON.parse(raw));
      } catch {
        resolve(raw);
      }
    });
  });
}

/** A response, or a function of the recorded request that picks one. */
export type ResponderOf<Request, Response> = Response | ((request: Request) => Response);

/** `response`, sent after `ms` (not sent at all when the client goes away first); a hang stays a hang. */
export function delayed<Response extends { kind: string }>(ms: number, response: Response): Response {
  return response.kind === 'hang' ? response : { ...response, delayMs: ms };
}

/** Never answers; the request ends when the client goes away (disconnects, resets the stream) or the fake closes. */
export const hang = (): { kind: 'hang' } => ({ kind: 'hang' });

/** What a response emits when its client goes away (disconnect, stream reset) or it ends: node's `ServerResponse` and `Http2ServerResponse` alike. */
export interface ClosingResponse {
  once(event: 'close', listener: () => void): unknown;
}

/**
 * The responses a fake gives, in order: queued ones first, then the default. Also counts the
 * requests held waiting (hung or delayed), so that a test can see the client let go of them.
 */
export class ResponderScript<Request, Response> {
  readonly #queue: ResponderOf<Request, Response>[] = [];
  #fallback: ResponderOf<Request, Response>;
  #waiting = 0;

  constructor(fallback: ResponderOf<Request, Response>) {
    this.#fallback = fallback;
  }

  /** Queues responses for the next requests, in order. */
  script(...responses: ResponderOf<Request, Response>[]): void {
    this.#queue.push(...responses);
  }

  /** The response once the script is used up. */
  setDefault(responder: ResponderOf<Request, Response>): void {
    this.#fallback = responder;
  }

  /** The response to `request`: the next queued one, else the default. */
  next(request: Request): Response {
    const responder = this.#queue.shift() ?? this.#fallback;
    return typeof responder === 'function' ? (responder as (request: Request) => Response)(request) : responder;
  }

  /** Requests currently waiting for an answer (hung or delayed). */
  pending(): number {
    return this.#waiting;
  }

  /**
   * Holds a request until its client goes away (`res` closes) or, when `ms` is given, until `ms`
   * have passed, whichever comes first; counted in `pending()` meanwhile.
   */
  async waitForClientOr(res: ClosingResponse, ms?: number): Promise<void> {
    this.#waiting += 1;
    try {
      await new Promise<void>((resolve) => {
        const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
        res.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } finally {
      this.#waiting -= 1;
    }
  }

  /** `script`, `setDefault` and `pending`, bound, for a fake's public object. */
  controls(): Pick<ResponderScript<Request, Response>, 'script' | 'setDefault' | 'pending'> {
    return {
      script: (...responses) => this.script(...responses),
      setDefault: (responder) => this.setDefault(responder),
      pending: () => this.pending(),
    };
  }
}

/** What every fake offers its tests: where it listens, what it received, its responder script. */
export interface ScriptedFake<Request, Responder> {
  /** Where to point the SDK. */
  url: string;
  /** Every request received, in order (refused ones included). */
  requests: Request[];
  /** Queues responses for the next requests that pass the fake's checks, in order. */
  script(...responses: Responder[]): void;
  /** The response once the script is used up (initially: an echo of the last user message). */
  setDefault(responder: Responder): void;
  /** Requests currently waiting for an answer (hung or delayed). */
  pending(): number;
  close(): Promise<void>;
}

/** A fake that checks the key a request presents. */
export interface KeyCheckingFake<Request, Responder> extends ScriptedFake<Request, Responder> {
  /** Only these keys are accepted from now on; before the first call any key is. */
  acceptKeys(keys: string[]): void;
}

/** The keys a fake accepts: any until it is told which (at start, or by `accept`), then only those. */
export class AcceptedKeys {
  #keys: Set<string> | undefined;

  constructor(keys?: string[]) {
    this.#keys = keys ? new Set(keys) : undefined;
  }

  /** Only these keys are accepted from now on. */
  accept(keys: string[]): void {
    this.#keys = new Set(keys);
  }

  /** Whether keys are checked yet. */
  get checked(): boolean {
    return this.#keys !== undefined;
  }

  /** Whether the key a request presented is refused: keys are checked, and it is missing or not one of them. */
  refuses(key: string | undefined): boolean {
    return this.#keys !== undefined && (key === undefined || !this.#keys.has(key));
  }
}

/** A fake listening on loopback: its origin (http://127.0.0.1:<port>) and a close that also drops open connections. */
export interface LoopbackListener {
  origin: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 at a free port; `close()` stops the server and calls `dropConnections` (so hung requests end). */
export async function listenOnLoopback(server: Server, dropConnections: () => void): Promise<LoopbackListener> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        dropConnections();
      }),
  };
}
