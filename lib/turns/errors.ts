/** Stable codes of turn errors; the HTTP edge maps them to statuses. */
export type TurnErrorCode =
  | 'turn_not_found'
  | 'thread_busy'
  | 'turn_limit_reached'
  | 'stale_turn'
  | 'agent_unavailable'
  | 'idempotency_key_reused';

/** A turn operation was refused; nothing was written. */
export class TurnError extends Error {
  override readonly name = 'TurnError';

  constructor(
    readonly code: TurnErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
