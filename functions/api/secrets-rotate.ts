import { secretAdmin } from '../shared/deps/secret-admin.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';
import { secretPath } from './schemas.js';

/** POST /v1/secrets/{name}/rotate (admin): starts a rotation now; 202, as Secrets Manager rotates asynchronously. */
export const handler = apiHandler('secrets-rotate', { path: secretPath }, async ({ path }) =>
  json(202, await secretAdmin.rotate(path.name)),
);
