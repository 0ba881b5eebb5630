/** The local stack cannot start; the message says what to do. */
export class LocalStackError extends Error {
  override readonly name = 'LocalStackError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
