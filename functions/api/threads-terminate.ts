import { threads } from '../shared/deps/threads.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { terminateQuery, threadPath } from './schemas.js';

/** DELETE /v1/threads/{sessionKey}: terminate (or destroy, with autoDestroy); repeating it changes nothing. */
export const handler = apiHandler(
  'threads-terminate',
  { path: threadPath, query: terminateQuery },
  async ({ principal, path, query }) => {
    const result = await threads.terminate(principal, path.sessionKey, query);
    return json(200, {
      sessionKey: path.sessionKey,
      status: 'terminated',
      destroyed: result.destroyed,
      alreadyTerminated: !result.changed,
      ...(result.thread ? { thread: result.thread } : {}),
    });
  },
);
