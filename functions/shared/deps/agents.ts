import { agentsOverview } from '../../../lib/agents/overview.js';
import { config } from './config.js';
import { threadStore } from './thread-store.js';

/** The configured agents with their live figures (`GET /v1/agents`, the idle sweep's gauges). */
export const agents = { overview: () => agentsOverview(config, threadStore) };
