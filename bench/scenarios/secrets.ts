import { KEYED_SECRET } from '../config.js';
import type { Bench } from '../harness.js';
import { round } from '../stats.js';
import { turnCounts } from '../turn-counts.js';

const THREADS = 8;
const TURNS_PER_THREAD = 25;
const METERED_TURNS = 10;

/**
 * Secrets: turns of the `keyed` agent (an `openai:` model, key in the local Secrets Manager, served
 * by the loopback fake). GetSecretValue is counted twice, by a middleware on the handlers' Secrets
 * Manager client and by the endpoint's own request log; the per-access ledger writes (one
 * UpdateItem on the secret's state item per resolve) are counted by the DynamoDB middleware.
 */
export async function benchSecrets(bench: Bench) {
  for (let t = 0; t < THREADS; t += 1) await bench.spawn('keyed', `keyed-${t}`);
  const endpointBefore = bench.stack.secretsManager.calls('GetSecretValue');
  const before = bench.meter.snapshot();
  await Promise.all(
    Array.from({ length: THREADS }, async (_, t) => {
      for (let i = 0; i < TURNS_PER_THREAD; i += 1) await bench.runTurn(`keyed-${t}`, `keyed turn ${i}`);
    }),
  );
  await bench.settle();
  const meteredBefore = bench.meter.snapshot();
  for (let i = 0; i < METERED_TURNS; i += 1) await bench.meteredTurn('keyed-0', `metered keyed turn ${i}`);
  const metered = turnCounts(bench.meter.since(meteredBefore), METERED_TURNS);
  const delta = bench.meter.since(before);
  const turns = THREADS * TURNS_PER_THREAD + METERED_TURNS;
  const calls = delta.get('secrets.GetSecretValue') ?? 0;
  return {
    secret: KEYED_SECRET,
    turns,
    getSecretValueCalls: calls,
    getSecretValuePer1000Turns: round((calls / turns) * 1000),
    endpointGetSecretValueCalls: bench.stack.secretsManager.calls('GetSecretValue') - endpointBefore,
    ledgerUpdatesPerTurn: round((delta.get('ledger.UpdateItemCommand') ?? 0) / turns),
    providerRequestsPerTurn: round(bench.fakeOpenAI.requests.length / turns),
    perTurn: metered,
  };
}
