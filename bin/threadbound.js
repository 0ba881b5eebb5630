#!/usr/bin/env node
// The `threadbound` executable (package.json "bin"): registers tsx's ESM loader with the
// project's tsconfig, then runs the TypeScript program next to it, so it works from any cwd.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('./threadbound.ts');
