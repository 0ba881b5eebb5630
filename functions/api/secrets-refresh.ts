import { secretAdmin } from '../shared/deps/secret-admin.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { secretPath } from './schemas.js';

/** POST /v1/secrets/{name}/refresh (admin): every process drops its cached copy at its next access. */
export const handler = apiHandler('secrets-refresh', { path: secretPath }, async ({ path, principal }) =>
  json(200, await secretAdmin.refresh(path.name, `key:${principal.keyId}`)),
);
