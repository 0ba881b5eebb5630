import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** A JSON response. */
export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The error shape of the API: {"error": {"code", "message", "details"?}}. */
export function errorResponse(
  statusCode: number,
  code: string,
  message: string,
  details?: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return json(statusCode, { error: { code, message, ...(details === undefined ? {} : { details }) } }, headers);
}
