import { threads } from '../shared/deps/threads.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { threadPath } from './schemas.js';

/** GET /v1/threads/{sessionKey}/audit: what happened to the caller's thread, with the hash chain verified. */
export const handler = apiHandler('threads-audit', { path: threadPath }, async ({ principal, path }) => {
  const trail = await threads.auditTrail(principal.tenant, path.sessionKey);
  return json(200, {
    verified: trail.verified,
    ...(trail.problem ? { problem: trail.problem } : {}),
    entries: trail.entries.map(({ seq, type, at, actor, agent, data, hash, prevHash }) => ({
      seq,
      type,
      at,
      actor,
      agent,
      data,
      hash,
      prevHash,
    })),
  });
});
