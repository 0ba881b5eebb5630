import * as z from 'zod';

/** The `turn` every state of the turn workflow passes on (lib/workflows/turn-workflow.ts TurnRef). */
export const turnRefSchema = z.object({
  tenant: z.string(),
  sessionKey: z.string(),
  turnId: z.string(),
  agent: z.string(),
  fencingToken: z.number().int(),
  timeoutSeconds: z.number().int().positive(),
  maxChildren: z.number().int().positive(),
});
