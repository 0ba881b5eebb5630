import { threads } from '../shared/context.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { threadPath } from './schemas.js';

/** GET /v1/threads/{sessionKey}: a thread's status. */
export const handler = apiHandler('threads-get', { path: threadPath }, async ({ principal, path }) =>
  json(200, await threads.get(principal.tenant, path.sessionKey)),
);
