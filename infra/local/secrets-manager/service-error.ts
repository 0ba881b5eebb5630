/** An error answered as Secrets Manager answers it: `__type` in the body, `x-amzn-ErrorType` header. */
export class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** ResourceNotFoundException, with AWS's wording unless the caller has a more precise one. */
export const notFound = (message = "Secrets Manager can't find the specified secret.") =>
  new ServiceError('ResourceNotFoundException', message);
/** InvalidParameterException: a parameter's value is not valid for the secret's current state. */
export const invalidParameter = (message: string) => new ServiceError('InvalidParameterException', message);
/** InvalidRequestException: the request is not valid for the secret's current state. */
export const invalidRequest = (message: string) => new ServiceError('InvalidRequestException', message);

/** The front-end check AWS applies to a modelled constraint (length, range, required). */
export function validation(field: string, rule: string, value?: unknown): ServiceError {
  const shown =
    value === undefined
      ? ''
      : ` '${typeof value === 'string' && value.length > 64 ? `${value.slice(0, 64)}…` : String(value)}'`;
  const at = value === undefined ? `Value null at '${field}'` : `Value${shown} at '${field}'`;
  return new ServiceError(
    'ValidationException',
    `1 validation error detected: ${at} failed to satisfy constraint: Member must ${rule}`,
  );
}
