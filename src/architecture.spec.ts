import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * No circles between folders (STYLE.md "Folders that import each other"): the folders of src/ form a
 * directed graph by their relative imports (specs and test helpers included), and that graph has no cycle,
 * short or long. The files directly under src/ (main.ts, app.module.ts, app.factory.ts) count as one more
 * node, the composition root: it imports every folder, so no folder may import it.
 */
const SRC = resolve(__dirname);
const ROOT = '<src root files>';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The folder of src/ a file belongs to, or the root node for files directly under src/. */
function nodeOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  return parts.length === 1 ? ROOT : parts[0];
}

/** Every module specifier a file names: static and type-only imports, re-exports, `import()` and `require()`. */
export function importsOf(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map((file) => file.fileName);
}

/** folder → the folders it imports, from the relative imports of every file. */
export function folderGraph(files: readonly { path: string; source: string }[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const from = nodeOf(file.path);
    if (!graph.has(from)) graph.set(from, new Set());
    for (const specifier of importsOf(file.source)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file.path), specifier);
      if (relative(SRC, target).startsWith('..')) continue;
      const to = nodeOf(target.endsWith('.ts') ? target : `${target}.ts`);
      if (to !== from) graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** Each cycle found, as the path of folders that leads back to its start (one per strongly connected group). */
export function cyclesIn(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  for (const start of [...graph.keys()].sort()) {
    if (done.has(start)) continue;
    // Shortest way back to `start`, breadth first.
    const previous = new Map<string, string>();
    const queue = [start];
    let closing: string | undefined;
    while (queue.length > 0 && closing === undefined) {
      const node = queue.shift()!;
      for (const next of [...(graph.get(node) ?? [])].sort()) {
        if (next === start) {
          closing = node;
          break;
        }
        if (previous.has(next)) continue;
        previous.set(next, node);
        queue.push(next);
      }
    }
    if (closing === undefined) continue;
    const path = [closing];
    while (path[0] !== start) path.unshift(previous.get(path[0])!);
    path.forEach((node) => done.add(node));
    cycles.push([...path, start]);
  }
  return cycles;
}

describe('architecture', () => {
  it('has no folders of src/ that import each other, directly or through others', () => {
    const files = sourceFiles(SRC).map((path) => ({ path, source: readFileSync(path, 'utf8') }));
    const cycles = cyclesIn(folderGraph(files)).map((cycle) => cycle.join(' → '));
    expect(cycles).toEqual([]);
  });

  it('finds direct and longer cycles, and reads every form of import', () => {
    expect(
      importsOf(
        `import a from './a'; import type { B } from "../b"; export * from './c'; const d = require('./d'); const e = import('./e');`,
      ),
    ).toEqual(['./a', '../b', './c', './d', './e']);
    const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));
    expect(cyclesIn(graph({ a: ['b'], b: ['c'], c: [] }))).toEqual([]);
    expect(cyclesIn(graph({ a: ['b'], b: ['a'] }))).toEqual([['a', 'b', 'a']]);
    expect(cyclesIn(graph({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] }))).toEqual([['a', 'b', 'c', 'a']]);
    const files = [
      { path: join(SRC, 'x', 'one.ts'), source: `import { y } from '../y/two';` },
      { path: join(SRC, 'y', 'two.ts'), source: `import type { Z } from '../z/three';` },
      { path: join(SRC, 'z', 'three.ts'), source: `export { x } from '../x/one';` },
    ];
    expect(cyclesIn(folderGraph(files))).toEqual([['x', 'y', 'z', 'x']]);
  });
});
