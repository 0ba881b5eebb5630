import { durationMs } from '../../lib/config/duration.js';
import { auditSearch } from '../shared/deps/audit.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { auditQuery, MAX_AUDIT_WINDOW } from './schemas.js';

const DEFAULT_PERIOD = '24h';

/** GET /v1/audit (admin): audit events of every chain in a time window, oldest first, filtered and paginated. */
export const handler = apiHandler('audit-list', { query: auditQuery }, async ({ query }) => {
  const to = new Date();
  const from = query.since
    ? new Date(Math.max(Date.parse(query.since), to.getTime() - durationMs(MAX_AUDIT_WINDOW)))
    : new Date(to.getTime() - durationMs(query.period ?? DEFAULT_PERIOD));
  const page = await auditSearch.search({
    from,
    to,
    limit: query.limit,
    ...pick(query, ['type', 'sessionKey', 'agent', 'tenant', 'cursor']),
  });
  return json(200, {
    from: from.toISOString(),
    to: to.toISOString(),
    events: page.entries.map(({ chain, seq, type, at, tenant, actor, sessionKey, agent, data, hash }) => ({
      chain,
      seq,
      type,
      at,
      tenant,
      actor,
      sessionKey,
      agent,
      data,
      hash,
    })),
    ...(page.cursor ? { nextCursor: page.cursor } : {}),
  });
});

function pick<T extends object, K extends keyof T>(value: T, fields: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(
    fields.filter((field) => value[field] !== undefined).map((field) => [field, value[field]]),
  ) as Partial<Pick<T, K>>;
}
