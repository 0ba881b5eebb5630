import { createDocumentClient } from '../../../lib/adapters/dynamodb/client.js';
import { tracer } from '../tracer.js';

/** The table's document client, one per function instance, traced (X-Ray subsegments per call; a no-op where tracing is off). */
export const documentClient = tracer.captureAWSv3Client(createDocumentClient());
