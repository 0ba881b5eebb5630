import type { ApiClient } from './api-client.js';
import type { KeyRole } from './connection.js';
import type { CliIo } from './io.js';

/** An option of a command (parsed with node:util parseArgs). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in the usage: `--period DURATION`. */
  valueName?: string;
  description: string;
}

/** A positional argument of a command. */
export interface ArgSpec {
  name: string;
  optional?: boolean;
}

/**
 * One command of the registry, e.g. `secrets list`. A module per command group exports its
 * commands; cli/commands/index.ts lists the groups. Global options (--url, --key, --json, --help)
 * apply to every command and are not repeated here.
 */
export interface CommandSpec {
  /** The command words: ['secrets', 'list'], or ['status'] for a command without a sub-command. */
  path: readonly string[];
  summary: string;
  args?: readonly ArgSpec[];
  options?: Readonly<Record<string, OptionSpec>>;
  /** The usage line after `threadbound <path>`, when the generated one says too little. */
  synopsis?: string;
  /** More lines of help. */
  notes?: readonly string[];
  examples?: readonly string[];
  /**
   * The command takes sensitive input (a secret value): a usage error about its command line
   * echoes nothing the user typed, and says how to pass the value instead.
   */
  sensitiveArgv?: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: most commands return nothing; an exit code is optional
  run(ctx: CommandContext): Promise<number | void>;
}

/** A group of commands (`secrets`, `status`, later `threads`, `agents`, `audit`). */
export interface CommandGroup {
  name: string;
  summary: string;
  commands: readonly CommandSpec[];
}

/** What a command runs with. */
export interface CommandContext {
  /** Positional arguments after the command words (their count is checked against `args`). */
  args: string[];
  /** The command's options and the global ones. */
  options: Readonly<Record<string, string | boolean | undefined>>;
  /** --json: print the raw JSON answer instead of text. */
  json: boolean;
  io: CliIo;
  cwd: string;
  /** Writes to stdout (sensitive strings redacted). */
  out(text: string): void;
  /** Writes to stderr (sensitive strings redacted). */
  err(text: string): void;
  /** Prints a value as JSON (for --json). */
  printJson(value: unknown): void;
  /** The API client, connected as the command needs (see cli/connection.ts). */
  api(role: KeyRole): ApiClient;
  /** Registers a string no output may contain (it is replaced by "[redacted]"). */
  sensitive(value: string): void;
}
