import type { CommandGroup } from '../command.js';
import { agentsGroup } from './agents.js';
import { auditGroup } from './audit.js';
import { secretsGroup } from './secrets.js';
import { statusGroup } from './status.js';
import { threadsGroup } from './threads.js';

/**
 * Every command group, in the order help lists them. A new group (threads, agents, audit) is one
 * module under cli/commands/ exporting a CommandGroup, added here.
 */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  threadsGroup,
  agentsGroup,
  secretsGroup,
  auditGroup,
  statusGroup,
];
