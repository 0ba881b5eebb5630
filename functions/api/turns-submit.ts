import { turns } from '../shared/deps/turns.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { addCorrelation } from '../shared/logger.js';
import { submitBody, threadPath } from './schemas.js';

/** POST /v1/threads/{sessionKey}/turns: submit a turn; 202 with its id and status (running or queued). */
export const handler = apiHandler(
  'turns-submit',
  { path: threadPath, body: submitBody },
  async ({ principal, path, body }) => {
    const { turn, created } = await turns.submit(principal, path.sessionKey, body);
    addCorrelation({ turnId: turn.turnId, agent: turn.agent });
    return json(
      202,
      { turnId: turn.turnId, status: turn.status, created },
      { location: `/v1/threads/${encodeURIComponent(path.sessionKey)}/turns/${turn.turnId}` },
    );
  },
);
