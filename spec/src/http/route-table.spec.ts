import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ROUTES } from '../../../src/http/route-table.js';

const API_MD = fileURLToPath(new URL('../../../api.md', import.meta.url));

/** api.md's endpoint headings (`## METHOD /path`), paths in OpenAPI form. */
function apiMdEndpoints(): string[] {
  const text = readFileSync(API_MD, 'utf8');
  return [...text.matchAll(/^#{2,3}\s+`?(GET|POST|PUT|PATCH|DELETE)\s+([^\s`]+)`?/gm)].map((m) => `${m[1]} ${m[2].replace(/:(\w+)/g, '{$1}')}`);
}

describe('route table (src/http/route-table.ts)', () => {
  const table = ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`);

  it('names each endpoint once', () => {
    expect(new Set(table).size).to.equal(table.length);
  });

  it('matches api.md: one "## METHOD /path" heading per route, and none for a route it does not have', () => {
    const headings = apiMdEndpoints();
    const undocumented = table.filter((r) => !headings.includes(r));
    const stale = headings.filter((h) => !table.includes(h));
    expect(undocumented, `in the route table but without a heading in api.md: ${undocumented.join(', ')}`).to.deep.equal([]);
    expect(stale, `headed in api.md but not in the route table: ${stale.join(', ')}`).to.deep.equal([]);
    expect(headings.length, 'a heading repeated in api.md').to.equal(new Set(headings).size);
  });

  it('gives every route a summary, a scope and at least one answer', () => {
    for (const r of ROUTES) {
      expect(r.summary, `${r.method} ${r.path}`).to.not.equal('');
      expect(['admin', 'write', 'read', 'public'], `${r.method} ${r.path}`).to.include(r.scope);
      expect(Object.keys(r.answers).length, `${r.method} ${r.path}`).to.be.greaterThan(0);
    }
  });
});
