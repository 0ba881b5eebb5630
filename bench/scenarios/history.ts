import { RECALL_MEMORY_TURNS } from '../config.js';
import type { Bench, TurnView } from '../harness.js';
import { serverMs } from '../harness.js';
import { median, round } from '../stats.js';
import { turnCounts } from '../turn-counts.js';

const SAMPLES = 10;

/**
 * History length: the same agent (memory window 50 messages) answering on threads with no history
 * (each thread's first turn) and on a thread whose window is full (50 messages loaded every turn,
 * and one exchange trimmed every turn).
 */
export async function benchHistory(bench: Bench) {
  const measure = async (keys: string[]) => {
    await bench.settle();
    const before = bench.meter.snapshot();
    const turns: TurnView[] = [];
    for (const key of keys) turns.push(await bench.meteredTurn(key, 'how long is my memory?'));
    const counts = turnCounts(bench.meter.since(before), keys.length);
    return {
      serverMsMedian: round(median(turns.map(serverMs))),
      agentBilledMs: counts.lambda.agent?.billedMs ?? 0,
      dynamoRequests: counts.dynamoRequests.total!,
      readUnits: counts.requestUnits.read,
      writeUnits: counts.requestUnits.write,
    };
  };
  const fresh = Array.from({ length: SAMPLES }, (_, i) => `recall-fresh-${i}`);
  for (const key of fresh) await bench.spawn('recall', key);
  const messages0 = await measure(fresh);

  await bench.spawn('recall', 'recall-long');
  for (let i = 0; i < RECALL_MEMORY_TURNS; i += 1)
    await bench.runTurn('recall-long', `filling the memory window, turn ${i}: ${'lorem ipsum '.repeat(8)}`);
  const messages50 = await measure(Array.from({ length: SAMPLES }, () => 'recall-long'));
  return {
    messages0,
    messages50,
    serverMsRatio50to0: round(messages50.serverMsMedian / Math.max(1, messages0.serverMsMedian)),
  };
}
