import { DynamoAgentEvents } from '../../../lib/adapters/dynamodb/agent-events.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** The agents' own audit chains (AGENT#<name>): tool denials, model fallbacks, agent restarts. */
export const agentAudit = new DynamoAgentEvents(documentClient, tableName());
