import { secretAdmin } from '../shared/deps/secret-admin.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { secretPath } from './schemas.js';

/** GET /v1/secrets/{name} (admin): one secret's metadata, figures and rotation status. */
export const handler = apiHandler('secrets-get', { path: secretPath }, async ({ path }) =>
  json(200, await secretAdmin.get(path.name)),
);
