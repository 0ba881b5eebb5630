import { MeteredThreadStore } from '../turn-metrics.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** The table adapter, counting every turn that ends (functions/shared/turn-metrics.ts). */
export const threadStore = new MeteredThreadStore(documentClient, tableName());
