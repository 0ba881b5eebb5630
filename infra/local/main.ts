import { logger } from '../../functions/shared/logger.js';
import { ConfigError } from '../../lib/config/errors.js';
import { LocalStackError } from './errors.js';
import { installLogOutput, logFormatFrom } from './log-output.js';
import { type LocalStack, startLocalStack } from './stack.js';

/**
 * The stack's own lines (a failed request, stopping): logged like the handlers' lines, redacted like
 * them, and at INFO whatever POWERTOOLS_LOG_LEVEL says, so the stop notice shows like the banner.
 */
const log = logger.createChild({ logLevel: 'INFO' });

/**
 * `npm start`: the whole backend on this machine, no AWS account needed. It prints one readable line
 * per log event and per non-zero metric (THREADBOUND_LOG_FORMAT=json: the handlers' JSON lines as on
 * Lambda), and once ready a banner for humans that ends with `threadbound listening on <url>`
 * (infra/local/log-output.ts, docs/operations.md "Logs").
 */
async function main(): Promise<void> {
  // Powertools prints WARN and above to stderr, the rest (and EMF) to stdout: both are rewritten.
  const format = logFormatFrom(process.env.THREADBOUND_LOG_FORMAT);
  const flushes = [installLogOutput(format, process.stdout), installLogOutput(format, process.stderr)];
  process.once('exit', () => {
    for (const flush of flushes) flush();
  });
  // The SDK versions are pinned and work on node 20; its "node 22 soon" notice would only bury the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      port: Number(process.env.PORT ?? 3000),
      dataDir: process.env.THREADBOUND_DATA_DIR ?? '.threadbound',
      configPath: process.env.THREADBOUND_CONFIG ?? 'threadbound.config.json',
      localKeys: process.env.THREADBOUND_LOCAL_KEYS,
      onError: (error) => log.error('local stack: request failed', { error: error as Error }),
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof LocalStackError) {
      console.error(`threadbound: cannot start: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`local stack: ${signal} received, stopping`, { signal });
    stack.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('local stack: error while stopping', { error: error as Error });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const tenantKey = stack.keys.find((k) => !k.admin) ?? stack.keys[0]!;
  const adminKey = stack.keys.find((k) => k.admin);
  const lines = [
    '',
    `threadbound local stack (DynamoDB Local at ${stack.dynamoEndpoint}, table ${stack.tableName}; Secrets Manager at ${stack.secretsManager.endpoint})`,
    stack.keysGenerated ? 'API keys generated for this data dir (kept in its keys.json):' : 'API keys:',
    ...stack.keys.map((k) => `  ${k.admin ? 'admin ' : 'tenant'} ${k.tenant.padEnd(10)} ${k.key}`),
    '',
    'Try it:',
    `  export TB=${stack.url} KEY=${tenantKey.key}`,
    `  curl -s -X POST $TB/v1/threads -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d '{"agent":"main"}'`,
    `  curl -s $TB/v1/threads -H "Authorization: Bearer $KEY"`,
    `  curl -s -X POST $TB/v1/threads/<sessionKey>/turns -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d '{"input":"analyse the BTC price trend"}'`,
    `  curl -s $TB/v1/agents -H "Authorization: Bearer $KEY"`,
    '  npm run demo    # the whole fan-out scenario, with child threads and audit trail',
    '  npm run threadbound -- secrets create anthropic-api-key < key.txt   # a provider key, read from stdin, never echoed',
    '  npm run threadbound -- secrets list',
    ...(adminKey ? [`  (admin routes: KEY=${adminKey.key})`] : []),
    '',
    `threadbound listening on ${stack.url}`,
  ];
  console.log(lines.join('\n'));
}

await main();
