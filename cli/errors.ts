/** A mistake in the command line: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command whose usage is printed (its path, e.g. ['secrets', 'audit']); none: the overall usage. */
    readonly command?: readonly string[],
  ) {
    super(message);
  }
}

/**
 * A failure the user can act on, printed as `threadbound: <code>: <message>` (exit code 1). API
 * errors keep the API's code and message; the CLI's own codes are snake_case like the API's.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** The HTTP status when the error came from the API. */
    readonly status?: number,
  ) {
    super(message);
  }
}
