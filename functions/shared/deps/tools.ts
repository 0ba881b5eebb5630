import { DynamoThreadNotes } from '../../../lib/adapters/dynamodb/thread-notes.js';
import { httpGetTool, memoryTools, spawnTool } from '../../../lib/tools/builtins.js';
import { CUSTOM_TOOLS } from '../../../lib/tools/custom.js';
import { ToolRegistry } from '../../../lib/tools/registry.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** Every tool of this deployment: the built-ins and the ones registered in code (lib/tools/custom.ts). */
export const tools = new ToolRegistry([
  ...memoryTools(new DynamoThreadNotes(documentClient, tableName())),
  httpGetTool,
  spawnTool,
  ...CUSTOM_TOOLS,
]);
