import { type Bench, serverMs } from '../harness.js';
import { mean, percentiles, round, since } from '../stats.js';
import { type TurnCounts, turnCounts } from '../turn-counts.js';

/** Turns one after another on one thread (client latency includes 5 ms polling). */
const SOLO_TURNS = 40;
/** Turns metered request by request (submit + one long poll, one at a time). */
const METERED_TURNS = 20;
const THREADS = 32;
const TURNS_PER_THREAD = 4;

/**
 * The floor this design allows for a direct reply (offline model, memory window full), for the
 * turn itself: submit reads the thread (1 GetItem) and claims it in one transaction; the agent
 * rereads thread + turn for its fencing check (2 GetItem) and loads memory (1 Query); the finish
 * rereads thread + turn (2 GetItem), commits reply + lease release + counters + audit in one
 * transaction, and one batch deletes the exchange that fell out of the memory window.
 */
export const DIRECT_TURN_FLOOR = {
  GetItemCommand: 5,
  TransactWriteItemsCommand: 2,
  QueryCommand: 1,
  BatchWriteItemCommand: 1,
  total: 9,
};

/** Per-turn platform overhead with 1 thread and with 32 threads in parallel, and what one turn costs in requests. */
export async function benchTurnOverhead(bench: Bench) {
  await bench.spawn('plain', 'solo');
  for (let i = 0; i < 3; i += 1) await bench.runTurn('solo', 'warm up');
  const client: number[] = [];
  const server: number[] = [];
  for (let i = 0; i < SOLO_TURNS; i += 1) {
    const { turn, clientMs } = await bench.runTurn('solo', `turn ${i}`);
    client.push(clientMs);
    server.push(serverMs(turn));
  }

  await bench.settle();
  const before = bench.meter.snapshot();
  for (let i = 0; i < METERED_TURNS; i += 1) await bench.meteredTurn('solo', `metered ${i}`);
  const perTurn: TurnCounts = turnCounts(bench.meter.since(before), METERED_TURNS);

  for (let t = 0; t < THREADS; t += 1) await bench.spawn('plain', `par-${t}`);
  const started = performance.now();
  const parallel = (
    await Promise.all(
      Array.from({ length: THREADS }, async (_, t) => {
        const times: number[] = [];
        for (let i = 0; i < TURNS_PER_THREAD; i += 1)
          times.push((await bench.runTurn(`par-${t}`, `turn ${i}`)).clientMs);
        return times;
      }),
    )
  ).flat();
  const parallelSeconds = since(started) / 1000;

  return {
    perTurnOverhead: {
      turns: SOLO_TURNS,
      clientMs: percentiles(client),
      serverMs: percentiles(server),
      turnsPerSecond: round(1000 / mean(client)),
    },
    parallel32: {
      threads: THREADS,
      turns: parallel.length,
      clientMs: percentiles(parallel),
      turnsPerSecond: round(parallel.length / parallelSeconds),
    },
    perTurn: { ...perTurn, floor: DIRECT_TURN_FLOOR },
  };
}
