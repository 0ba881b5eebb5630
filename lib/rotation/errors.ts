/** Stable codes of rotation errors. */
export type RotationErrorCode =
  | 'unknown_secret'
  | 'rotation_disabled'
  | 'not_a_version'
  | 'not_pending'
  | 'no_value'
  | 'test_failed'
  | 'no_strategy';

/** A rotation step refused to go on; Secrets Manager records the step as failed and AWSPENDING stays. */
export class RotationError extends Error {
  override readonly name = 'RotationError';

  constructor(
    readonly code: RotationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
