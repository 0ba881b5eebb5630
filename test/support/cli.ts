import { Readable } from 'node:stream';
import { type CliIo, runCli } from '../../cli/main.js';

/** What one in-process CLI run printed, and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The io of an in-memory run; everything is optional (no stdin, empty env, the process's cwd). */
export interface CliRunOptions {
  /** Text piped in, or a ready stream (e.g. one marked as a terminal). */
  stdin?: string | CliIo['stdin'];
  /** Marks stdin as a terminal (isTTY). */
  stdinTty?: boolean;
  /** Marks stderr as a terminal (isTTY): the progress spinner's mode. */
  stderrTty?: boolean;
  env?: CliIo['env'];
  cwd?: string;
}

/** Runs the CLI in-process with in-memory streams and returns its exit code and output. */
export async function runCliInMemory(argv: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const piped =
    typeof options.stdin === 'string' || options.stdin === undefined
      ? Readable.from(options.stdin === undefined ? [] : [options.stdin])
      : options.stdin;
  const io: CliIo = {
    stdin: options.stdinTty ? Object.assign(piped, { isTTY: true }) : piped,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: Object.assign({ write: (text: string) => (stderr += text) }, options.stderrTty ? { isTTY: true } : {}),
    env: options.env ?? {},
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}
