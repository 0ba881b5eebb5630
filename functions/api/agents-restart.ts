import { restartAgent } from '../../lib/agents/restart.js';
import { decodeSweepCursor } from '../../lib/maintenance/cursor.js';
import { agentAudit } from '../shared/deps/agent-audit.js';
import { config } from '../shared/deps/config.js';
import { threadStore } from '../shared/deps/thread-store.js';
import { turns } from '../shared/deps/turns.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { errorResponse, json } from '../shared/http/response.js';
import { logger } from '../shared/logger.js';
import { agentPath, agentRestartBody } from './schemas.js';

/** Walk budget: the walk's only unbounded part, kept well inside the route's 29 s (the rest is one thread's work and the audit append). */
const BUDGET_MS = 20_000;

/** POST /v1/agents/{name}/restart (admin): release the agent's stale leases, restart stuck turns; `nextCursor` continues a walk the budget cut short. */
export const handler = apiHandler(
  'agents-restart',
  { path: agentPath, body: agentRestartBody },
  async ({ principal, path, body }) => {
    const report = await restartAgent({ config, store: threadStore, turns, audit: agentAudit }, path.name, {
      principal,
      force: body.force,
      // The schema already refused a cursor that does not decode (400 body.cursor).
      cursor: body.cursor === undefined ? undefined : decodeSweepCursor(body.cursor),
      budgetMs: BUDGET_MS,
      onError: (error, sessionKey) =>
        logger.error('agent restart: a thread could not be handled', {
          agent: path.name,
          sessionKey,
          error: error as Error,
        }),
    });
    if (!report)
      return errorResponse(404, 'agent_not_found', `no agent "${path.name}" is configured`, { agent: path.name });
    logger.info('agent restarted', {
      agent: report.agent,
      force: report.force,
      leasesReleased: report.leasesReleased,
      turnsFailed: report.turnsFailed,
      complete: report.complete,
    });
    return json(200, report);
  },
);
