import { threads } from '../shared/context.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { restartBody, threadPath } from './schemas.js';

/** POST /v1/threads/{sessionKey}/restart: release a stuck lease, bump the generation, keep or clear memory. */
export const handler = apiHandler('threads-restart', { path: threadPath, body: restartBody }, async ({ principal, path, body }) =>
  json(200, await threads.restart(principal, path.sessionKey, body)),
);
