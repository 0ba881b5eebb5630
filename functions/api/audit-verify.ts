import { verifyAuditChains } from '../../lib/audit/integrity.js';
import { auditChains } from '../shared/deps/audit.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { auditVerifyQuery } from './schemas.js';

/**
 * Work one call may do: no new chain is started after 15 s or 1 000 chains, so a call ends well
 * inside the route's 29 s (API Gateway's limit) and its answer stays small.
 */
const BUDGET = { timeMs: 15_000, maxChains: 1_000 };

/** GET /v1/audit/verify (admin): verifies the hash chains of the next part of the table; follow nextCursor to walk it all. */
export const handler = apiHandler('audit-verify', { query: auditVerifyQuery }, async ({ query }) => {
  const page = await verifyAuditChains(auditChains, query.cursor, BUDGET);
  return json(200, { chains: page.chains, ...(page.cursor ? { nextCursor: page.cursor } : {}) });
});
