import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHECKED = ['src/', 'actors/'];

/**
 * The paths README's "Project layout" block names. A line names a folder (`name/`) or files
 * (`a.ts, b.ts`) before two spaces and a description; indentation says which folder it is in.
 */
export function layoutPaths(readme: string): { files: string[]; folders: string[] } {
  const section = readme.slice(readme.indexOf('## Project layout'));
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const files: string[] = [];
  const folders: string[] = [];
  const parents: { indent: number; path: string }[] = [];
  for (const line of block.split('\n')) {
    const indent = line.length - line.trimStart().length;
    const names = line.trim().split(/ {2,}/)[0].split(', ');
    if (line.trim() === '' || !names.every((n) => /^[\w.-]+\/?$/.test(n))) continue; // a description's continuation
    while (parents.length > 0 && parents[parents.length - 1].indent >= indent) parents.pop();
    const base = parents.length > 0 ? parents[parents.length - 1].path : '';
    for (const name of names) {
      if (name.endsWith('/')) {
        folders.push(base + name);
        parents.push({ indent, path: base + name });
      } else {
        files.push(base + name);
      }
    }
  }
  return { files, folders };
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .map((p) => join(dir, p))
    .filter((p) => statSync(join(ROOT, p)).isFile())
    .map((p) => relative('.', p));
}

describe('README "Project layout"', () => {
  const named = layoutPaths(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  const checked = (p: string): boolean => CHECKED.some((c) => p.startsWith(c));

  it('names every file under src/ and actors/', () => {
    const missing = CHECKED.flatMap(filesUnder).filter((f) => !named.files.includes(f));
    expect(missing, `files the layout does not name: ${missing.join(', ')}`).to.deep.equal([]);
  });

  it('names no file or folder that is not there, and none twice', () => {
    const stale = named.files.filter(checked).filter((f) => !CHECKED.flatMap(filesUnder).includes(f));
    const noFolder = named.folders.filter(checked).filter((d) => {
      try {
        return !statSync(join(ROOT, d)).isDirectory();
      } catch {
        return true;
      }
    });
    expect(stale, `named but not in the tree: ${stale.join(', ')}`).to.deep.equal([]);
    expect(noFolder, `folders named but not in the tree: ${noFolder.join(', ')}`).to.deep.equal([]);
    expect(named.files.length, 'a file named twice').to.equal(new Set(named.files).size);
  });

  it('reads folders from indentation and lists from commas', () => {
    const { files, folders } = layoutPaths('## Project layout\n\n```\nsrc/  the service\n  a.ts, b.ts   two\n    continued description\n  http/  x\n    c.ts  y\ntop.ts  z\n```\n');
    expect(files).to.deep.equal(['src/a.ts', 'src/b.ts', 'src/http/c.ts', 'top.ts']);
    expect(folders).to.deep.equal(['src/', 'src/http/']);
  });
});
