import { agents } from '../shared/deps/agents.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';

/** GET /v1/agents: per agent, its limits, counters and utilisation. */
export const handler = apiHandler('agents-list', {}, async () => json(200, await agents.overview()));
