import { turns } from '../shared/deps/turns.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { addCorrelation } from '../shared/logger.js';
import { turnPath, turnQuery } from './schemas.js';

/** GET /v1/threads/{sessionKey}/turns/{turnId}[?wait=N]: a turn's status and, when done, its one reply. */
export const handler = apiHandler(
  'turns-get',
  { path: turnPath, query: turnQuery },
  async ({ principal, path, query }) => {
    const turn = await turns.get(principal.tenant, path.sessionKey, path.turnId, query.wait);
    addCorrelation({ agent: turn.agent });
    return json(200, turn);
  },
);
