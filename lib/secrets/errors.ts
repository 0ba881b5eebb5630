/** Stable codes of secret errors; the HTTP edge maps them to statuses. */
export type SecretErrorCode =
  | 'secret_denied'
  | 'secret_not_found'
  | 'secret_unavailable'
  | 'unknown_secret'
  | 'rotation_refused';

/** A secret could not be given out. The message names the secret, never its value. */
export class SecretError extends Error {
  override readonly name = 'SecretError';

  constructor(
    readonly code: SecretErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
