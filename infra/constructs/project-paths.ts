import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the repository root. Resolved from this file rather than process.cwd() so
 * that `cdk synth`, vitest and any other caller bundle the same entries whatever directory
 * they start in.
 */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a file given relative to the repository root. */
export function projectPath(relative: string): string {
  return fileURLToPath(new URL(relative, new URL('../../', import.meta.url)));
}
