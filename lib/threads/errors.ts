/** Stable codes of thread lifecycle errors; the HTTP edge maps them to statuses. */
export type ThreadErrorCode =
  | 'thread_not_found'
  | 'thread_exists'
  | 'thread_terminated'
  | 'unknown_agent'
  | 'session_key_required'
  | 'invalid_session_key'
  | 'invalid_cursor'
  | 'limit_reached'
  | 'conflict';

/** A thread lifecycle operation was refused; nothing was written. */
export class ThreadError extends Error {
  override readonly name = 'ThreadError';

  constructor(
    readonly code: ThreadErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A limit (deployment maxThreads or an agent's maxActiveThreads) is full. */
export class LimitReachedError extends ThreadError {
  constructor(
    readonly limit: 'maxThreads' | 'maxActiveThreads',
    readonly max: number,
    /** Seconds after which a retry may succeed (sent as Retry-After). */
    readonly retryAfterSeconds: number,
    agent?: string,
  ) {
    super(
      'limit_reached',
      limit === 'maxThreads'
        ? `the deployment already has its maximum of ${max} active threads`
        : `agent "${agent}" already has its maximum of ${max} active threads`,
      { limit, max, ...(agent ? { agent } : {}) },
    );
  }
}
