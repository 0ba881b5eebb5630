import { DynamoCursorStore } from '../../../lib/adapters/dynamodb/cursor-store.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** Where the scheduled jobs keep the point their last run stopped at. */
export const cursors = new DynamoCursorStore(documentClient, tableName());
