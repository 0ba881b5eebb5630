import { messageView } from '../../lib/turns/view.js';
import { turns } from '../shared/deps/turns.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { messagesQuery, threadPath } from './schemas.js';

/** GET /v1/threads/{sessionKey}/messages: the thread's history, oldest first, paginated by sequence number. */
export const handler = apiHandler(
  'messages-list',
  { path: threadPath, query: messagesQuery },
  async ({ principal, path, query }) => {
    const page = await turns.messages(principal.tenant, path.sessionKey, query);
    return json(200, {
      messages: page.messages.map(messageView),
      ...(page.next !== undefined ? { nextAfter: page.next } : {}),
    });
  },
);
