import { ThreadService } from '../../../lib/threads/service.js';
import { config } from './config.js';
import { threadStore } from './thread-store.js';

/** Threads: spawn, read, list, terminate, audit. */
export const threads = new ThreadService(config, threadStore);
