/** A progress indicator that is running; stop() ends it and leaves stderr as it found it. */
export interface Progress {
  stop(): void;
}

/** Frames of the spinner (braille dots: one cell wide in every common terminal font). */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Erase the current line and return to its start (ANSI EL 2). */
const CLEAR_LINE = '\r\x1b[2K';

/** Whether a stream is a terminal (process.stderr says so; a test's fake may too). */
export function isTerminal(stream: unknown): boolean {
  return (stream as { isTTY?: boolean } | undefined)?.isTTY === true;
}

/** Elapsed milliseconds as "0.4s", "12.3s", "2m05s". */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/**
 * Shows that something is going on, on stderr only (stdout stays the command's answer): on a
 * terminal a spinner with the elapsed time, redrawn in place and erased by stop(); otherwise (a
 * pipe, a log file, CI) one "<label>…" line, since redrawn lines would pile up there.
 */
export function startProgress(
  write: (text: string) => void,
  options: { tty: boolean; label: string; intervalMs?: number; now?: () => number },
): Progress {
  if (!options.tty) {
    write(`${options.label}…\n`);
    return { stop: () => undefined };
  }
  const now = options.now ?? Date.now;
  const started = now();
  let frame = 0;
  const draw = () => {
    write(`${CLEAR_LINE}${FRAMES[frame % FRAMES.length]} ${options.label} ${formatElapsed(now() - started)}`);
    frame += 1;
  };
  draw();
  const timer = setInterval(draw, options.intervalMs ?? 100);
  // Never the reason the process stays alive.
  timer.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      write(CLEAR_LINE);
    },
  };
}
