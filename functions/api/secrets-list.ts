import { secretAdmin } from '../shared/deps/secret-admin.js';
import { apiHandler } from '../shared/http/api-handler.js';
import { json } from '../shared/http/response.js';

/** GET /v1/secrets (admin): every configured secret's metadata, figures and rotation status — never a value. */
export const handler = apiHandler('secrets-list', {}, async () => json(200, { secrets: await secretAdmin.list() }));
