import type { ToolDefinition } from './port.js';

/**
 * User-defined tools, registered in code (not config: a tool is code). Add yours here; an agent
 * can call one only when its `tools.allow` names it (and `tools.deny` does not).
 */
export const CUSTOM_TOOLS: readonly ToolDefinition[] = [];
