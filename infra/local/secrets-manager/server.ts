import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Body } from './request.js';
import { ServiceError } from './service-error.js';
import type { SecretState } from './state.js';

/** One API action: the request body in, the reply body out; a ServiceError is the error reply. */
export type Operation = (body: Body) => unknown;

/** The HTTP side of the endpoint: where it listens, what it was asked, and how to close it. */
export interface SecretsManagerServer {
  endpoint: string;
  /** Requests received for an operation, in total or for one secret (by name). */
  calls(operation: string, secretName?: string): number;
  close(): Promise<void>;
}

/**
 * Serves the Secrets Manager JSON protocol (awsJson1_1) on a free loopback port: the operation is
 * named by the `x-amz-target` header, the body is a JSON object, errors carry `__type` and the
 * `x-amzn-ErrorType` header. Expired deletions are purged before each operation runs.
 */
export async function serveSecretsManager(
  state: SecretState,
  operations: Record<string, Operation>,
): Promise<SecretsManagerServer> {
  const counts = new Map<string, number>();
  const count = (operation: string, secretName: string | undefined) => {
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    if (secretName !== undefined)
      counts.set(`${operation}\u0000${secretName}`, (counts.get(`${operation}\u0000${secretName}`) ?? 0) + 1);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': randomUUID(),
          ...headers,
        });
        res.end(JSON.stringify(payload));
      };
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '');
      try {
        let body: Body;
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
          body = parsed as Body;
        } catch {
          throw new ServiceError('SerializationException', 'The request body is not a JSON object.');
        }
        const handler = req.method === 'POST' ? operations[operation] : undefined;
        const id = operation === 'CreateSecret' ? body.Name : body.SecretId;
        count(operation, typeof id === 'string' ? (state.lookup(id)?.name ?? id) : undefined);
        if (!handler)
          throw new ServiceError(
            'UnknownOperationException',
            `The operation ${operation || '(none)'} is not supported by the local Secrets Manager endpoint.`,
          );
        state.purgeExpired();
        reply(200, handler(body));
      } catch (error) {
        // Anything else is a fault of this endpoint; its message never carries the request, so never a secret.
        const failure =
          error instanceof ServiceError
            ? error
            : new ServiceError('InternalServiceError', 'An error occurred on the server side.', 500);
        reply(failure.status, { __type: failure.type, message: failure.message }, { 'x-amzn-errortype': failure.type });
      }
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: (operation, secretName) =>
      counts.get(secretName === undefined ? operation : `${operation}\u0000${secretName}`) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
