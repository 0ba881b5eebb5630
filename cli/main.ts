import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ApiClient } from './api-client.js';
import type { CommandContext, CommandGroup, CommandSpec, OptionSpec } from './command.js';
import { COMMAND_GROUPS } from './commands/index.js';
import { resolveApiConnection } from './connection.js';
import { CliError, UsageError } from './errors.js';
import { type CliIo, redactingWriter } from './io.js';

export type { CliIo } from './io.js';

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: {
    type: 'string',
    valueName: 'URL',
    description: 'API base URL (else THREADBOUND_URL, else a running local stack: <data dir>/local.json)',
  },
  key: {
    type: 'string',
    valueName: 'KEY',
    description: 'API key (else THREADBOUND_API_KEY, else for a local stack URL its keys.json)',
  },
  json: { type: 'boolean', description: 'print the raw JSON answer (for scripts)' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
};

/** Exit codes: 0 done, 1 failed (API or runtime error), 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'run'; command: CommandSpec; args: string[]; options: Record<string, string | boolean | undefined> };

/**
 * The threadbound CLI: runs one command line and returns its exit code. Everything it reads and
 * writes goes through `io`, so tests run it in-process. Nothing it prints contains the API key in
 * use or a secret value being stored.
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  groups: readonly CommandGroup[] = COMMAND_GROUPS,
): Promise<number> {
  const sensitive = new Set<string>();
  const out = redactingWriter(io.stdout, sensitive);
  const err = redactingWriter(io.stderr, sensitive);
  try {
    const parsed = parseCommandLine(argv, groups);
    if (parsed.kind === 'help') {
      out(parsed.text);
      return EXIT.ok;
    }
    const { command, args, options } = parsed;
    if (typeof options.key === 'string') sensitive.add(options.key);
    const cwd = io.cwd ?? process.cwd();
    const ctx: CommandContext = {
      args,
      options,
      json: options.json === true,
      io,
      cwd,
      out,
      err,
      printJson: (value) => out(`${JSON.stringify(value, null, 2)}\n`),
      api: (role) => {
        const connection = resolveApiConnection(
          { env: io.env, cwd, url: options.url as string | undefined, key: options.key as string | undefined },
          role,
        );
        sensitive.add(connection.key);
        return new ApiClient(connection);
      },
      sensitive: (value) => {
        sensitive.add(value);
      },
    };
    return (await command.run(ctx)) ?? EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`threadbound: ${error.message}\n\n${usageOf(error.command, groups)}`);
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      err(`threadbound: ${error.code}: ${error.message}\n`);
      if (error.details !== undefined) err(`  details: ${JSON.stringify(error.details)}\n`);
      return EXIT.failed;
    }
    err(`threadbound: internal_error: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.failed;
  }
}

/**
 * Finds the command and parses its options in two passes: the first (lenient, knowing every
 * option of every command so option values are not taken for command words) finds the command
 * words; the second (strict) parses the rest with the command's own options.
 */
function parseCommandLine(argv: readonly string[], groups: readonly CommandGroup[]): Parsed {
  const all = [GLOBAL_OPTIONS, ...groups.flatMap((g) => g.commands.map((c) => c.options ?? {}))];
  const union: Record<string, OptionSpec> = {};
  for (const options of all) for (const [name, spec] of Object.entries(options)) union[name] ??= spec;
  const lenient = parseArgs({
    args: [...argv],
    options: toParseArgs(union),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const words = lenient.tokens.filter((t) => t.kind === 'positional');
  const help = lenient.values.help === true;

  if (words[0]?.value === 'help')
    return {
      kind: 'help',
      text: helpFor(
        words.slice(1).map((w) => w.value),
        groups,
      ),
    };
  if (words.length === 0) {
    if (help) return { kind: 'help', text: overallHelp(groups) };
    throw new UsageError('no command given');
  }
  const group = groups.find((g) => g.name === words[0]!.value);
  if (!group) throw new UsageError(`unknown command '${words[0]!.value}'`);
  const sub = words[1] && group.commands.find((c) => c.path.length === 2 && c.path[1] === words[1]!.value);
  const command = sub || group.commands.find((c) => c.path.length === 1);
  if (!command) {
    if (help) return { kind: 'help', text: groupHelp(group) };
    throw new UsageError(
      words[1] ? `unknown command '${group.name} ${words[1].value}'` : `'${group.name}' needs a command`,
      [group.name],
    );
  }
  if (help) return { kind: 'help', text: commandHelp(command) };

  const consumed = new Set(words.slice(0, command.path.length).map((w) => w.index));
  const rest = argv.filter((_, i) => !consumed.has(i));
  let strict: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    strict = parseArgs({
      args: rest,
      options: toParseArgs({ ...GLOBAL_OPTIONS, ...command.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    // Node's messages name only the option, never a value; a command taking a secret still says nothing of what was typed.
    const message = command.sensitiveArgv
      ? `unknown option or missing option value; ${command.sensitiveArgv}`
      : firstSentence((error as Error).message);
    throw new UsageError(message, command.path);
  }
  const specs = command.args ?? [];
  const required = specs.filter((a) => !a.optional);
  if (strict.positionals.length < required.length) {
    throw new UsageError(
      `missing ${required
        .slice(strict.positionals.length)
        .map((a) => a.name)
        .join(' ')}`,
      command.path,
    );
  }
  if (strict.positionals.length > specs.length) {
    const extra = strict.positionals[specs.length]!;
    throw new UsageError(
      command.sensitiveArgv ? `too many arguments: ${command.sensitiveArgv}` : `unexpected argument '${extra}'`,
      command.path,
    );
  }
  return {
    kind: 'run',
    command,
    args: strict.positionals,
    options: strict.values as Record<string, string | boolean | undefined>,
  };
}

function toParseArgs(options: Readonly<Record<string, OptionSpec>>): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(options).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short ? { short: spec.short } : {}) },
    ]),
  );
}

function firstSentence(message: string): string {
  const end = message.indexOf('. ');
  return end === -1 ? message : message.slice(0, end);
}

// ---------------------------------------------------------------- help

function helpFor(topic: string[], groups: readonly CommandGroup[]): string {
  if (topic.length === 0) return overallHelp(groups);
  const group = groups.find((g) => g.name === topic[0]);
  if (!group) throw new UsageError(`no help for '${topic.join(' ')}': unknown command`);
  const command = topic[1]
    ? group.commands.find((c) => c.path[1] === topic[1])
    : group.commands.find((c) => c.path.length === 1);
  if (topic[1] && !command) throw new UsageError(`no help for '${topic.join(' ')}': unknown command`, [group.name]);
  return command ? commandHelp(command) : groupHelp(group);
}

function usageOf(path: readonly string[] | undefined, groups: readonly CommandGroup[]): string {
  const group = path && groups.find((g) => g.name === path[0]);
  if (!group) return overallHelp(groups);
  const command = group.commands.find((c) => c.path.join(' ') === path.join(' '));
  return command ? commandHelp(command) : groupHelp(group);
}

function synopsis(command: CommandSpec): string {
  if (command.synopsis !== undefined) return `threadbound ${command.path.join(' ')} ${command.synopsis}`.trimEnd();
  const args = (command.args ?? []).map((a) => (a.optional ? `[${a.name}]` : a.name));
  const options = Object.entries(command.options ?? {}).map(([name, spec]) =>
    spec.type === 'string' ? `[--${name} ${spec.valueName ?? 'VALUE'}]` : `[--${name}]`,
  );
  return ['threadbound', ...command.path, ...args, ...options].join(' ');
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const entries = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(...entries.map(([flag]) => flag.length));
  return entries.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`);
}

const GLOBAL_HELP = optionLines(GLOBAL_OPTIONS);

function commandHelp(command: CommandSpec): string {
  const lines = [`usage: ${synopsis(command)}`, '', command.summary];
  if (command.notes?.length) lines.push('', ...command.notes);
  if (command.options && Object.keys(command.options).length > 0)
    lines.push('', 'options:', ...optionLines(command.options));
  lines.push('', 'global options:', ...GLOBAL_HELP);
  if (command.examples?.length) lines.push('', 'examples:', ...command.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

function groupHelp(group: CommandGroup): string {
  const lines = [
    `usage: threadbound ${group.name} <command> [options]`,
    '',
    group.summary,
    '',
    'commands:',
    ...commandList(group.commands),
  ];
  lines.push('', `threadbound help ${group.name} <command> tells more.`);
  return `${lines.join('\n')}\n`;
}

function commandList(commands: readonly CommandSpec[]): string[] {
  const entries = commands.map(
    (c) =>
      [[...c.path, ...(c.args ?? []).map((a) => (a.optional ? `[${a.name}]` : a.name))].join(' '), c.summary] as const,
  );
  const width = Math.max(...entries.map(([usage]) => usage.length));
  return entries.map(([usage, summary]) => `  ${usage.padEnd(width)}  ${summary}`);
}

function overallHelp(groups: readonly CommandGroup[]): string {
  const lines = [
    'usage: threadbound <command> [options]',
    '',
    'Operates a threadbound deployment through its HTTP API (and Secrets Manager for `secrets create`).',
    '',
    'commands:',
    ...commandList([
      ...groups.flatMap((g) => g.commands),
      {
        path: ['help'],
        args: [{ name: 'COMMAND', optional: true }],
        summary: 'help on every command, or one',
        run: async () => {},
      },
    ]),
    '',
    'global options:',
    ...GLOBAL_HELP,
    '',
    'connection: --url / THREADBOUND_URL, else the local stack `npm start` runs (<THREADBOUND_DATA_DIR or .threadbound>/local.json);',
    '            --key / THREADBOUND_API_KEY, else for a local URL the key from <data dir>/keys.json (admin commands: the admin key).',
    'Secret values are read from stdin or --file, never from the command line, and never printed.',
    'Exit codes: 0 done, 1 failed (`threadbound: <code>: <message>` on stderr), 2 usage error.',
  ];
  return `${lines.join('\n')}\n`;
}
