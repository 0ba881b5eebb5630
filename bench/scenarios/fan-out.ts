import { SUB_AGENT_LATENCY_MS, WORKERS } from '../config.js';
import { type Bench, serverMs } from '../harness.js';
import { round } from '../stats.js';
import { type TurnCounts, turnCounts } from '../turn-counts.js';

const FAN_OUTS = [1, 2, 4, 8];
const REPEATS = 3;
/** The fan-out whose per-turn counts feed the cost model. */
export const COSTED_FAN_OUT = 4;

/**
 * Fan-out: a lead turn naming 1, 2, 4, 8 sub-agents (each model sleeps SUB_AGENT_LATENCY_MS).
 * The figure is the turn's wall time divided by its slowest sub-agent: 1.0 is perfect parallelism,
 * the rest is the main agent, the Map, the coalesce and the finish. The median of 3 is kept.
 */
export async function benchFanOut(bench: Bench) {
  const byCount: Record<string, { turnMs: number; slowestSubAgentMs: number; ratio: number }> = {};
  let costed: TurnCounts | undefined;
  for (const n of FAN_OUTS) {
    const samples = [];
    for (let rep = 0; rep < REPEATS; rep += 1) await bench.spawn('lead', `fan-${n}-${rep}`);
    await bench.settle();
    const before = bench.meter.snapshot();
    for (let rep = 0; rep < REPEATS; rep += 1) {
      const key = `fan-${n}-${rep}`;
      const turn = await bench.meteredTurn(
        key,
        `${WORKERS.slice(0, n)
          .map((w) => `@${w}`)
          .join(' ')} measure`,
      );
      if (turn.subAgents?.length !== n)
        throw new Error(`a turn naming ${n} sub-agents ran ${turn.subAgents?.length ?? 0}`);
      const slowest = Math.max(...turn.subAgents.map(serverMs));
      samples.push({ turnMs: serverMs(turn), slowestSubAgentMs: slowest, ratio: round(serverMs(turn) / slowest) });
    }
    if (n === COSTED_FAN_OUT) costed = turnCounts(bench.meter.since(before), REPEATS);
    samples.sort((a, b) => a.ratio - b.ratio);
    byCount[String(n)] = samples[Math.floor(REPEATS / 2)]!;
  }
  return { subAgentLatencyMs: SUB_AGENT_LATENCY_MS, byCount, perTurnAt4: costed! };
}
