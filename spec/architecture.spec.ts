import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every module specifier a file names: static and type imports, re-exports, dynamic imports. */
export function specifiers(source: string): string[] {
  const found: string[] = [];
  const pattern = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*\(?\s*['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(pattern)) found.push(m[1] ?? m[2]);
  return found;
}

/** The import graph of the .ts files under `dirs`: each file to the files it imports (relative imports resolved, `.js` to `.ts`). */
export function importGraph(files: ReadonlyMap<string, string>): Map<string, { local: string[]; packages: string[] }> {
  const graph = new Map<string, { local: string[]; packages: string[] }>();
  for (const [file, source] of files) {
    const local: string[] = [];
    const packages: string[] = [];
    for (const spec of specifiers(source)) {
      if (spec.startsWith('.')) local.push(posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
      else packages.push(spec);
    }
    graph.set(file, { local, packages });
  }
  return graph;
}

/** One import circle per strongly connected group of files (Tarjan), each as the files in it, sorted. */
export function cycles(graph: ReadonlyMap<string, { local: readonly string[] }>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.local ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (graph.get(v)?.local ?? []).includes(v)) found.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

function sources(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const p of readdirSync(posix.join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
    if (p.endsWith('.ts')) files.set(posix.join(dir, p), readFileSync(posix.join(ROOT, dir, p), 'utf8'));
  }
  return files;
}

describe('architecture', () => {
  const files = new Map([...sources('src'), ...sources('actors')]);
  const graph = importGraph(files);

  describe('the import scanner', () => {
    it('finds static, type, re-exported, side-effect and dynamic imports, and no strings in code', () => {
      const source = [
        "import { a } from './a.js';",
        "import type { B } from '../b.js';",
        'import {\n  c,\n  d,\n} from "./c.js";',
        "export { e } from './e.js';",
        "import './f.js';",
        "const g = await import('./g.js');",
        "const text = 'not from here';",
      ].join('\n');
      expect(specifiers(source)).to.deep.equal(['./a.js', '../b.js', './c.js', './e.js', './f.js', './g.js']);
    });

    it('reports a circle through type imports and none for a chain', () => {
      const chain = importGraph(new Map([['x/a.ts', "import './b.js';"], ['x/b.ts', "import type { C } from './c.js';"], ['x/c.ts', '']]));
      expect(cycles(chain)).to.deep.equal([]);
      const circle = importGraph(new Map([['x/a.ts', "import './b.js';"], ['x/b.ts', "import type { C } from './c.js';"], ['x/c.ts', "import '../x/a.js';"]]));
      expect(cycles(circle)).to.deep.equal([['x/a.ts', 'x/b.ts', 'x/c.ts']]);
    });
  });

  it('sees the files it checks', () => {
    expect(graph.size).to.be.greaterThan(50);
    expect(graph.get('actors/registry/registry.ts')?.local.length).to.be.greaterThan(0);
  });

  it('has no import circles in src/ and actors/', () => {
    expect(cycles(graph)).to.deep.equal([]);
  });

  it('keeps actors/counting/ a leaf: it imports nothing of ours outside itself', () => {
    const outside = [...graph].filter(([f]) => f.startsWith('actors/counting/')).flatMap(([f, { local }]) => local.filter((t) => !t.startsWith('actors/counting/')).map((t) => `${f} -> ${t}`));
    expect(outside).to.deep.equal([]);
  });

  it('lets src/storage/ reach actors/ only through the protocols (and ask): never an actor or the counting leaf itself', () => {
    // What storage encodes or implements (images, journal facts, the store a remote campaign counts
    // through, how a state is replayed) is protocol; the counting leaf's types come re-exported from it.
    const allowed = new Set(['actors/protocol.ts', 'actors/analytics-protocol.ts', 'actors/ask.ts']);
    const offending = [...graph]
      .filter(([f]) => f.startsWith('src/storage/'))
      .flatMap(([f, { local }]) => local.filter((t) => t.startsWith('actors/') && !allowed.has(t)).map((t) => `${f} -> ${t}`));
    expect(offending).to.deep.equal([]);
    expect([...graph.keys()].filter((f) => f.startsWith('src/storage/redis/')).length, 'sees the folders under src/storage/').to.be.greaterThan(0);
  });

  it('keeps actors/ free of src/, HTTP, validation and the environment', () => {
    const offending: string[] = [];
    for (const [file, { local, packages }] of graph) {
      if (!file.startsWith('actors/')) continue;
      for (const t of local) if (!t.startsWith('actors/')) offending.push(`${file} -> ${t}`);
      for (const p of packages) if (/^(koa|koa-.*|@koa\/.*|ajv|ajv-.*)$/.test(p)) offending.push(`${file} -> ${p}`);
      if (/process\s*\.\s*env/.test(files.get(file) as string)) offending.push(`${file} reads process.env`);
    }
    expect(offending).to.deep.equal([]);
  });
});
