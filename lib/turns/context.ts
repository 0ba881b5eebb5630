import type { Config } from '../config/schema.js';
import type { ThreadStore } from '../threads/ports.js';
import type { WorkflowStarter } from '../workflows/turn-workflow.js';

/** What the turn lifecycle works with: the config, the thread store, the workflow and a clock. */
export interface TurnContext {
  config: Config;
  store: ThreadStore;
  workflow: WorkflowStarter;
  now: () => Date;
}
