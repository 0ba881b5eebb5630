import { loadConfig } from '../../../lib/config/load.js';

/** The validated deployment config, loaded once per function instance at cold start. */
export const config = loadConfig();
