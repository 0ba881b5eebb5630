import { threads } from '../shared/deps/threads.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { addCorrelation } from '../shared/logger.js';
import { threadPath } from './schemas.js';

/** GET /v1/threads/{sessionKey}: a thread's status. */
export const handler = apiHandler('threads-get', { path: threadPath }, async ({ principal, path }) => {
  const thread = await threads.get(principal.tenant, path.sessionKey);
  addCorrelation({ agent: thread.agent });
  return json(200, thread);
});
