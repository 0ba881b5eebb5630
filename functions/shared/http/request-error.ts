/** Problems with the request itself, found at the edge before any domain code runs. */
export type RequestErrorCode =
  | 'validation_failed'
  | 'invalid_json'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'route_not_found';

const STATUS: Record<RequestErrorCode, number> = {
  validation_failed: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  unauthorized: 401,
  forbidden: 403,
  route_not_found: 404,
};

/** A request refused at the edge; the HTTP status belongs to the code. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  readonly status: number;

  constructor(
    readonly code: RequestErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}
