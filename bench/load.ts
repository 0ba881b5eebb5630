import { startBench } from './harness.js';
import { benchLoad } from './scenarios/load.js';

/**
 * `npm run load`: only the bounded load run of `npm run bench` (autocannon on loopback against the
 * local stack, a read route and a write route), printed as JSON; bench/results is left alone.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const bench = await startBench();
try {
  console.log(JSON.stringify(await benchLoad(bench), null, 2));
} finally {
  await bench.stop();
}
