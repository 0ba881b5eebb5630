import { threads } from '../shared/deps/threads.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { addCorrelation } from '../shared/logger.js';
import { spawnBody } from './schemas.js';

/** POST /v1/threads: spawn a thread bound to an agent. */
export const handler = apiHandler('threads-spawn', { body: spawnBody }, async ({ principal, body }) => {
  addCorrelation({ agent: body.agent, sessionKey: body.sessionKey });
  const thread = await threads.spawn(principal, body);
  addCorrelation({ sessionKey: thread.sessionKey });
  return json(201, thread, { location: `/v1/threads/${encodeURIComponent(thread.sessionKey)}` });
});
