import { DynamoSecretLedger } from '../../../lib/adapters/dynamodb/secret-ledger.js';
import { documentClient } from './document-client.js';
import { tableName } from './env.js';

/** Each secret's figures and audit in the table (accesses, rotations, exposures). */
export const secretLedger = new DynamoSecretLedger(documentClient, tableName());
