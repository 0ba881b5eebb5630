import { recoverStaleTurns } from '../../lib/turns/recovery.js';
import { threadStore, turns } from '../shared/context.js';
import { logger } from '../shared/logger.js';

/** Scheduled: fail turns whose lease expired (their process died) and start what was queued behind them. */
export async function handler(): Promise<{ recovered: number }> {
  const recovered = await recoverStaleTurns(threadStore, turns, { onError: (error, sessionKey) => logger.error('turn recovery failed', { sessionKey, error: error as Error }) });
  if (recovered > 0) logger.info('recovered stale turns', { recovered });
  return { recovered };
}
