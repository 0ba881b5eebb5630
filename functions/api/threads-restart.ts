import { threads } from '../shared/deps/threads.js';
import { turns } from '../shared/deps/turns.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { restartBody, threadPath } from './schemas.js';

/** POST /v1/threads/{sessionKey}/restart: release a stuck lease, bump the generation, keep or clear memory. */
export const handler = apiHandler(
  'threads-restart',
  { path: threadPath, body: restartBody },
  async ({ principal, path, body }) => {
    const thread = await threads.restart(principal, path.sessionKey, body);
    // The released lease lets the thread's queued turns run now instead of at the next recovery pass.
    await turns.startNext(principal.tenant, path.sessionKey);
    return json(200, thread);
  },
);
