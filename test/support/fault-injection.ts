import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type HttpRequest, HttpResponse } from '@smithy/core/transport';

/**
 * What a fault does to one DynamoDB call (one HTTP attempt: the middleware sits inside the SDK's
 * retry loop, so each retry is a new attempt that may be hit again):
 * - `throughput`: the service answers 400 ProvisionedThroughputExceededException (nothing applied);
 * - `throttling`: the service answers 400 ThrottlingException (nothing applied);
 * - `conflict`: a TransactWriteItems is cancelled with TransactionConflict on its items (nothing applied);
 * - `lost-response`: the request IS applied, then the connection resets before the answer arrives.
 */
export type FaultKind = 'throughput' | 'throttling' | 'conflict' | 'lost-response';

/** One rule: which calls of which commands get which fault. */
export interface FaultRule {
  /** DynamoDB operation names (`TransactWriteItems`, `UpdateItem`, `PutItem`, `Query`, …); '*' for every one. */
  commands: string[] | '*';
  kind: FaultKind;
  /** Probability per attempt, 0..1 (seeded, see FaultInjector). */
  rate?: number;
  /** Exact attempts to hit, 1-based, counted per rule over the calls it matches. */
  calls?: number[];
  /** At most this many faults from this rule. */
  max?: number;
  /** Only attempts whose request body (the JSON DynamoDB receives) passes this test. */
  when?: (body: Record<string, unknown>) => boolean;
}

/** What one rule did, for the test's assertions. */
export interface FaultStats {
  matched: number;
  injected: number;
  byCommand: Record<string, number>;
}

const MIDDLEWARE_NAME = 'threadboundFaultInjection';
const DYNAMODB_ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

/**
 * Fault injection for a real AWS SDK v3 DynamoDB client. The middleware is added to the client's
 * stack in the `deserialize` step at low priority: inside the SDK's retry middleware (so the SDK's
 * standard retry strategy sees each fault as it would see the service's answer) and inside the
 * deserializer (so the service errors are real HTTP responses that the SDK's own protocol code turns
 * into its real exception classes).
 */
export class FaultInjector {
  private readonly rules: { rule: FaultRule; stats: FaultStats }[];
  private random: () => number;
  private enabled = true;
  private readonly attempts = new Map<string, number>();
  private readonly attached = new Set<DynamoDBDocumentClient>();

  constructor(rules: FaultRule[], options: { seed?: number } = {}) {
    this.rules = rules.map((rule) => ({ rule, stats: { matched: 0, injected: 0, byCommand: {} } }));
    this.random = mulberry32(options.seed ?? 1);
  }

  /** Adds the middleware to a document client (the handlers' module-level one, or a test table's). */
  attach(client: DynamoDBDocumentClient): this {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = String(context.commandName ?? '').replace(/Command$/, '');
        this.attempts.set(command, (this.attempts.get(command) ?? 0) + 1);
        const request = args.request as HttpRequest;
        const fault = this.enabled ? this.pick(command, request) : undefined;
        if (!fault) return next(args);
        if (fault === 'lost-response') {
          // The service applied the write; only its answer is lost (a reset connection), which the
          // SDK treats as a transient network error and retries with the very same request.
          await next(args);
          throw Object.assign(new Error('socket hang up (fault injected after the request was applied)'), {
            code: 'ECONNRESET',
          });
        }
        return { response: errorResponse(fault, request) };
      },
      { step: 'deserialize', priority: 'low', name: MIDDLEWARE_NAME },
    );
    this.attached.add(client);
    return this;
  }

  /** Removes the middleware from every client it was added to. */
  detach(): void {
    for (const client of this.attached) client.middlewareStack.remove(MIDDLEWARE_NAME);
    this.attached.clear();
  }

  /** Stops (or resumes) injecting, keeping the middleware and its counts. */
  pause(paused = true): void {
    this.enabled = !paused;
  }

  /** Per rule, in the order given: how many attempts it matched and how many it hit. */
  stats(): FaultStats[] {
    return this.rules.map(({ stats }) => ({ ...stats, byCommand: { ...stats.byCommand } }));
  }

  /** Every attempt seen, by operation (faulted or not). */
  attemptCounts(): Record<string, number> {
    return Object.fromEntries(this.attempts);
  }

  /** Total faults injected by every rule. */
  injected(): number {
    return this.rules.reduce((sum, { stats }) => sum + stats.injected, 0);
  }

  private pick(command: string, request: HttpRequest): FaultKind | undefined {
    let body: Record<string, unknown> | undefined;
    for (const { rule, stats } of this.rules) {
      if (rule.commands !== '*' && !rule.commands.includes(command)) continue;
      if (rule.kind === 'conflict' && command !== 'TransactWriteItems') continue;
      if (rule.when) {
        body ??= parseBody(request);
        if (!rule.when(body)) continue;
      }
      stats.matched += 1;
      if (rule.max !== undefined && stats.injected >= rule.max) continue;
      const hit = rule.calls ? rule.calls.includes(stats.matched) : this.random() < (rule.rate ?? 0);
      if (!hit) continue;
      stats.injected += 1;
      stats.byCommand[command] = (stats.byCommand[command] ?? 0) + 1;
      return rule.kind;
    }
    return undefined;
  }
}

/** The JSON body DynamoDB would receive (the attempt's serialized request). */
function parseBody(request: HttpRequest): Record<string, unknown> {
  const body = request.body as unknown;
  const text = typeof body === 'string' ? body : body instanceof Uint8Array ? new TextDecoder().decode(body) : '{}';
  return JSON.parse(text) as Record<string, unknown>;
}

/** The HTTP answer DynamoDB gives for the fault, in its JSON 1.0 protocol. */
function errorResponse(kind: Exclude<FaultKind, 'lost-response'>, request: HttpRequest): HttpResponse {
  let payload: Record<string, unknown>;
  if (kind === 'throughput') {
    payload = {
      __type: `${DYNAMODB_ERROR_PREFIX}ProvisionedThroughputExceededException`,
      message: 'The level of configured provisioned throughput for the table was exceeded (injected).',
    };
  } else if (kind === 'throttling') {
    payload = {
      __type: `${DYNAMODB_ERROR_PREFIX}ThrottlingException`,
      message: 'Rate of requests exceeds the allowed throughput (injected).',
    };
  } else {
    // One reason per item, as DynamoDB answers: every item conflicted with another transaction.
    const items = (parseBody(request).TransactItems as unknown[] | undefined) ?? [];
    const reasons = items.map(() => ({
      Code: 'TransactionConflict',
      Message: 'Transaction is ongoing for the item (injected)',
    }));
    payload = {
      __type: `${DYNAMODB_ERROR_PREFIX}TransactionCanceledException`,
      message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map(() => 'TransactionConflict').join(', ')}]`,
      CancellationReasons: reasons,
    };
  }
  return new HttpResponse({
    statusCode: 400,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': `fault-${Math.random().toString(36).slice(2)}`,
    },
    body: Buffer.from(JSON.stringify(payload)),
  });
}

/** A small seeded PRNG, so a failing rate-based case can be replayed with the same seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A turn a client was told was accepted (a 202), and what it sent. */
export interface AcceptedTurn {
  sessionKey: string;
  turnId: string;
  input: string;
}

/** What the ledger found, for assertions beyond the ones it makes itself. */
export interface TurnLedger {
  turns: Record<string, unknown>[];
  messages: Record<string, unknown>[];
  /** Every problem found; empty when every turn is accounted for. */
  problems: string[];
}

/**
 * Checks, over every item of the table, that faults lost or duplicated nothing: each accepted turn
 * exists once and is final; every turn (child turns included) that started has exactly one user
 * message, and a succeeded one exactly one assistant message (its reply), a failed one none; no
 * message is duplicated, none is missing from any thread's sequence (the cases stay below
 * memory.maxTurns, so nothing was trimmed); a turn id the client was told twice is one turn.
 */
export function turnLedger(items: Record<string, unknown>[], accepted: AcceptedTurn[]): TurnLedger {
  const problems: string[] = [];
  const turns = items.filter((item) => item.kind === 'turn');
  const messages = items.filter((item) => item.kind === 'message');
  const threads = items.filter((item) => item.kind === 'thread');
  const turnById = new Map(turns.map((turn) => [String(turn.turnId), turn]));
  for (const a of new Map(accepted.map((a) => [a.turnId, a])).values()) {
    const turn = turnById.get(a.turnId);
    if (!turn) problems.push(`accepted turn ${a.turnId} on ${a.sessionKey} is not in the table`);
    else if (turn.input !== a.input || turn.sessionKey !== a.sessionKey)
      problems.push(`turn ${a.turnId} does not hold what was submitted`);
  }
  for (const turn of turns) {
    const id = String(turn.turnId);
    if (!['succeeded', 'failed', 'timed_out'].includes(String(turn.status)))
      problems.push(`turn ${id} is still ${String(turn.status)}`);
    const own = messages.filter((m) => m.pk === turn.pk && m.turnId === id);
    const user = own.filter((m) => m.role === 'user');
    const assistant = own.filter((m) => m.role === 'assistant');
    const started = turn.userSeq !== undefined;
    if (user.length !== (started ? 1 : 0))
      problems.push(`turn ${id} has ${user.length} user message(s), expected ${started ? 1 : 0}`);
    if (started && user[0] && (user[0].seq !== turn.userSeq || user[0].content !== turn.input))
      problems.push(`turn ${id}: its user message is not its input at userSeq`);
    const replies = turn.status === 'succeeded' ? 1 : 0;
    if (assistant.length !== replies)
      problems.push(
        `turn ${id} (${String(turn.status)}) has ${assistant.length} reply message(s), expected ${replies}`,
      );
    if (replies === 1 && assistant[0] && (assistant[0].seq !== turn.replySeq || assistant[0].content !== turn.reply))
      problems.push(`turn ${id}: its reply message is not its reply at replySeq`);
  }
  for (const thread of threads) {
    const seqs = messages
      .filter((m) => m.pk === thread.pk)
      .map((m) => Number(m.seq))
      .sort((a, b) => a - b);
    const expected = Array.from({ length: Number(thread.messageSeq ?? 0) }, (_, i) => i + 1);
    if (thread.status !== 'terminated' && JSON.stringify(seqs) !== JSON.stringify(expected))
      problems.push(
        `thread ${String(thread.sessionKey)}: message seqs ${JSON.stringify(seqs)}, expected 1..${String(thread.messageSeq)}`,
      );
  }
  return { turns, messages, problems };
}

/** Calls an API as a client would: (method, path, body) → status and JSON body. */
export type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/**
 * A client that survives faults as a careful client does: a 5xx or a dropped connection is retried
 * with the same request (turns carry an idempotency key, so a retry never makes a second turn; a
 * spawn retried after its first attempt landed gets 409 thread_exists, which means it exists).
 */
export function retryingClient(call: ApiCall, options: { attempts?: number; delayMs?: number } = {}) {
  const attempts = options.attempts ?? 8;
  const delayMs = options.delayMs ?? 150;
  const send = async (method: string, path: string, body?: unknown) => {
    let last: { status: number; body: any } | undefined;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        last = await call(method, path, body);
        if (last.status < 500) return { ...last, attempts: attempt };
      } catch (error) {
        if (attempt === attempts) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs * attempt));
    }
    return { ...last!, attempts };
  };
  return {
    send,
    /** Spawns a thread; true once it exists (201, or 409 after a retry whose first attempt landed). */
    async spawn(agent: string, sessionKey: string): Promise<boolean> {
      const result = await send('POST', '/v1/threads', { agent, sessionKey });
      return (
        result.status === 201 ||
        (result.status === 409 && result.attempts > 1 && result.body?.error?.code === 'thread_exists')
      );
    },
    /** Submits a turn with an idempotency key; the accepted turn, or the refusal's status. */
    async submit(
      sessionKey: string,
      input: string,
      idempotencyKey: string,
    ): Promise<AcceptedTurn | { refused: number; code?: string }> {
      const result = await send('POST', `/v1/threads/${sessionKey}/turns`, { input, idempotencyKey });
      if (result.status === 202) return { sessionKey, turnId: String(result.body.turnId), input };
      return { refused: result.status, code: result.body?.error?.code };
    },
    /** Long-polls a turn until it is final (or the time is up) and returns its view. */
    async final(sessionKey: string, turnId: string, timeoutMs = 60_000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const result = await send('GET', `/v1/threads/${sessionKey}/turns/${turnId}?wait=10`);
        if (result.status === 200 && ['succeeded', 'failed', 'timed_out'].includes(result.body.status))
          return result.body;
        if (Date.now() > deadline)
          throw new Error(
            `turn ${turnId} on ${sessionKey} is not final after ${timeoutMs} ms: ${JSON.stringify(result.body)}`,
          );
      }
    },
  };
}
