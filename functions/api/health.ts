import { publicHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';

const startedAt = new Date().toISOString();

/** GET /v1/health: liveness only; touches no data and needs no key. */
export const handler = publicHandler(async () => json(200, { status: 'ok', startedAt }));
