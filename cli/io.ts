/** Where the CLI reads and writes: the process's streams and environment, or a test's fakes. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Relative paths (--file, the config, the data dir) resolve against it; default process.cwd(). */
  cwd?: string;
}

/**
 * A writer that replaces every registered sensitive string (the API key in use, a secret value
 * being stored) before anything reaches a stream: nothing the CLI prints should contain them, and
 * this makes sure of it even for text that comes from elsewhere (an error message, an API answer).
 */
export function redactingWriter(
  stream: { write(chunk: string): unknown },
  sensitive: ReadonlySet<string>,
): (text: string) => void {
  return (text) => {
    let safe = text;
    for (const value of sensitive) if (value.length > 0) safe = safe.split(value).join('[redacted]');
    stream.write(safe);
  };
}
