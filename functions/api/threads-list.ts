import { threads } from '../shared/deps/threads.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { listQuery } from './schemas.js';

/** GET /v1/threads: the caller's threads, newest first, with an opaque cursor. */
export const handler = apiHandler('threads-list', { query: listQuery }, async ({ principal, query }) => {
  const page = await threads.list(principal.tenant, query);
  return json(200, { threads: page.threads, ...(page.cursor ? { nextCursor: page.cursor } : {}) });
});
