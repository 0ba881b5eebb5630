import { runCli } from '../cli/main.js';

/**
 * `threadbound` (`npm run threadbound -- …`, or the `threadbound` bin): the operator's CLI.
 * `threadbound help` lists the commands; see cli/ for the modules.
 */
// The SDK (secrets create) warns about Node 20 on every run; the project pins Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // `threadbound … | head` closes the pipe early: not a failure.
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
