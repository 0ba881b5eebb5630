import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The layering of lib/, checked on the source: no import circles (type-only imports included: a
// circle of types is still two modules that each need the other), and no AWS event shapes.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LIB = join(ROOT, 'lib');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** The files a file imports by relative path (static, dynamic and type-only), resolved to their sources. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g)].map((match) =>
    resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')),
  );
}

/** The lib/ files a file imports. */
const importsOf = (file: string): string[] =>
  relativeImports(file).filter((path) => path.startsWith(LIB) && path.endsWith('.ts'));

/** Every import circle of the graph (Tarjan's strongly connected components of more than one file, or a self-import). */
function circles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(relative(ROOT, member));
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('lib/ layering', () => {
  const files = sourceFiles(LIB);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it('reads the imports of every file (the check sees the graph)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect([...graph.values()].flat().length).toBeGreaterThan(100);
  });

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    expect(
      circles(
        new Map([
          ['/a', ['/b']],
          ['/b', ['/a']],
          ['/c', []],
        ]),
      ),
    ).toHaveLength(1);
  });

  it('ships nothing from test/: no production file imports test support (the test provider included)', () => {
    const production = ['lib', 'functions', 'infra', 'cli', 'bin'].flatMap((dir) => sourceFiles(join(ROOT, dir)));
    const TEST = join(ROOT, 'test');
    const offenders = production.filter((file) => relativeImports(file).some((path) => path.startsWith(TEST)));
    expect(offenders.map((file) => relative(ROOT, file))).toEqual([]);
  });

  it('takes no AWS event shapes (aws-lambda types stay at the edge, in functions/)', () => {
    const users = files.filter((file) => /from\s+'aws-lambda'/.test(readFileSync(file, 'utf8')));
    expect(users.map((file) => relative(ROOT, file))).toEqual([]);
  });
});
