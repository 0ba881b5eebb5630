import * as z from 'zod';
import type { AuditEventType } from '../../lib/audit/chain.js';
import { TENANT_PATTERN } from '../../lib/auth/api-keys.js';
import { DURATION_PATTERN, durationMs } from '../../lib/config/duration.js';
import { NAME_PATTERN } from '../../lib/config/schema.js';
import { decodeSweepCursor } from '../../lib/maintenance/cursor.js';
import { SESSION_KEY_PATTERN } from '../../lib/threads/session-key.js';

/** Path parameter of thread routes; ":" is allowed here so child threads ("<key>:<agent>") can be read. */
export const threadPath = z.object({
  sessionKey: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,191}$/, 'must be a session key (letters, digits, ".", "_", "-", ":")'),
});

const metadata = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'metadata keys are 1–64 letters, digits, "_", "." or "-"')
      // An Object.prototype name ("constructor", "__proto__") makes the map unstorable: the DynamoDB
      // marshaller takes an object whose `constructor` is not Object for a class instance (a 500 the fuzzer found).
      .refine(
        (key) => !(key in Object.prototype),
        'metadata keys may not be "constructor", "__proto__" or another built-in object property',
      ),
    z.string().max(512, 'metadata values are at most 512 characters'),
  )
  .refine((value) => Object.keys(value).length <= 20, 'at most 20 metadata entries');

export const spawnBody = z.strictObject({
  agent: z.string().regex(NAME_PATTERN, 'must be an agent name'),
  sessionKey: z
    .string()
    .regex(SESSION_KEY_PATTERN, 'must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit')
    .optional(),
  metadata: metadata.optional(),
});

export const listQuery = z.strictObject({
  agent: z.string().regex(NAME_PATTERN, 'must be an agent name').optional(),
  status: z.enum(['active', 'idle', 'terminated']).optional(),
  cursor: z.string().min(1).max(1024).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const restartBody = z.strictObject({
  /** Drop the thread's memory (its messages leave the agent's context). */
  clearMemory: z.boolean().default(false),
});

export const terminateQuery = z.strictObject({
  reason: z.string().min(1).max(200).optional(),
});

export const turnPath = threadPath.extend({
  turnId: z.string().regex(/^turn_[A-Za-z0-9]{26}$/, 'must be a turnId'),
});

export const submitBody = z.strictObject({
  input: z.string().min(1, 'must not be empty').max(32_000, 'at most 32 000 characters'),
  /** A repeat with the same key returns the same turn and starts nothing new. */
  idempotencyKey: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1–128 letters, digits, ".", "_", ":" or "-"')
    .optional(),
});

export const turnQuery = z.strictObject({
  /** Long poll: wait up to this many seconds for the turn to finish. */
  wait: z.coerce.number().int().min(0).max(25).default(0),
});

export const messagesQuery = z.strictObject({
  /** Return messages after this sequence number (the previous page's nextAfter). */
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

export const agentPath = z.object({
  name: z.string().regex(NAME_PATTERN, 'must be an agent name'),
});

export const agentRestartBody = z.strictObject({
  /** Also restart turns still within their lease (started before the restart): they are failed and their thread restarted. */
  force: z.boolean().default(false),
  /** Continue a walk that answered `complete: false` from its `nextCursor`. */
  cursor: z
    .string()
    .max(4096)
    .refine((value) => decodeSweepCursor(value) !== undefined, 'must be a nextCursor this API returned')
    .optional(),
});

export const secretPath = z.object({
  name: z.string().regex(NAME_PATTERN, 'must be a secret name'),
});

const AUDIT_TYPES = [
  'thread_spawn',
  'thread_restart',
  'thread_terminate',
  'thread_cleanup',
  'thread_moved',
  'agent_exec',
  'plan_refused',
  'secret_reveal',
  'secret_denied',
  'secret_refresh',
  'secret_rotated',
  'secret_rotation_failed',
  'tool_denied',
  'model_fallback',
  'agent_restart',
] as const satisfies readonly AuditEventType[];

/** Longest window one audit query may cover. */
export const MAX_AUDIT_WINDOW = '31d';

export const auditQuery = z
  .strictObject({
    /** Events at or after this instant (ISO 8601). */
    since: z.iso.datetime({ offset: true }).optional(),
    /** Events of the last period ("24h", "7d"); the default when neither is given is 24h. */
    period: z.string().regex(DURATION_PATTERN, 'must be a duration such as "30m", "24h" or "7d"').optional(),
    type: z.enum(AUDIT_TYPES).optional(),
    sessionKey: threadPath.shape.sessionKey.optional(),
    agent: z.string().regex(NAME_PATTERN, 'must be an agent name').optional(),
    tenant: z.string().regex(TENANT_PATTERN, 'must be a tenant name').optional(),
    cursor: z.string().min(1).max(1024).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .refine((q) => !(q.since && q.period), { message: 'give since or period, not both', path: ['period'] })
  .refine(
    (q) => !q.period || !DURATION_PATTERN.test(q.period) || durationMs(q.period) <= durationMs(MAX_AUDIT_WINDOW),
    { message: `at most ${MAX_AUDIT_WINDOW}`, path: ['period'] },
  );

/** GET /v1/audit/verify: where the walk over every chain continues (the previous answer's nextCursor). */
export const auditVerifyQuery = z.strictObject({
  cursor: z.string().min(1).max(2048).optional(),
});
