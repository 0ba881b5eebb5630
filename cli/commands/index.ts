import type { CommandGroup } from '../command.js';
import { secretsGroup } from './secrets.js';
import { statusGroup } from './status.js';

/**
 * Every command group, in the order help lists them. A new group (threads, agents, audit) is one
 * module under cli/commands/ exporting a CommandGroup, added here.
 */
export const COMMAND_GROUPS: readonly CommandGroup[] = [secretsGroup, statusGroup];
