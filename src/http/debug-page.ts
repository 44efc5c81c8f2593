import { createHash } from 'node:crypto';

/**
 * The inspector's page: one self-contained HTML document (no external assets, nothing fetched but
 * `/debug/actors` and `/debug/events`) showing the actor tree and the live event stream. A token
 * given as `?token=` is passed on to both. Data is only ever written with `textContent`.
 */

const STYLE = `
  :root { color-scheme: light dark; font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  body { margin: 0; padding: 12px 16px; }
  h1 { font-size: 15px; margin: 0 0 8px; }
  h2 { font-size: 13px; margin: 16px 0 6px; text-transform: uppercase; letter-spacing: .05em; opacity: .7; }
  #status { padding: 1px 6px; border-radius: 3px; background: #8884; }
  #status.live { background: #2a74; }
  .error { color: #c33; }
  table { border-collapse: collapse; }
  th, td { text-align: left; padding: 2px 10px 2px 0; }
  td.n, th.n { text-align: right; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #8882; }
  tr.suspended td { color: #c33; }
  form { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin-bottom: 6px; }
  input[type=text] { font: inherit; width: 22em; }
  #events { list-style: none; margin: 0; padding: 0; max-height: 60vh; overflow: auto; border-top: 1px solid #8884; }
  #events li { white-space: pre; overflow: hidden; text-overflow: ellipsis; border-bottom: 1px solid #8882; padding: 1px 0; }
  .kind { display: inline-block; width: 6em; opacity: .7; }
  .actor { display: inline-block; min-width: 14em; }
  .type { font-weight: bold; }
`;

const SCRIPT = `
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get('token') || '';
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const MAX_ROWS = 500;
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };

  async function refreshTree() {
    try {
      const res = await fetch('/debug/actors', { headers, cache: 'no-store' });
      const tree = await res.json();
      if (!res.ok) throw new Error(tree.error || 'HTTP ' + res.status);
      renderTree(tree);
      $('tree-error').textContent = '';
    } catch (err) {
      $('tree-error').textContent = 'actor tree unavailable: ' + err.message;
    }
  }

  function renderTree(t) {
    $('registry').textContent = 'registry: ' + t.campaigns + ' campaigns, ' + t.suspended + ' suspended, ' +
      t.restarts + ' restarts, ' + t.live_keys + ' live keys; inspection hook ' +
      (t.inspector.attached ? 'attached' : 'detached') + ' (' + t.inspector.watchers + ' watching)' +
      (t.truncated ? '; first ' + t.children.length + ' campaigns shown' : '');
    const rows = t.children.map((c) => {
      const tr = el('tr', undefined, c.status);
      tr.dataset.actor = c.id;
      tr.append(el('td', c.id), el('td', c.status));
      for (const v of [c.restarts, c.live_keys, c.total, c.bytes]) tr.append(el('td', v, 'n'));
      tr.addEventListener('click', () => { $('actor').value = c.id; connect(); });
      return tr;
    });
    $('campaigns').replaceChildren(...rows);
  }

  let source;
  let paused = false;
  let pending = [];
  let frame = 0;

  function setStatus(text, live) {
    $('status').textContent = text;
    $('status').className = live ? 'live' : '';
  }

  function connect() {
    if (source) source.close();
    const q = new URLSearchParams();
    const actor = $('actor').value.trim();
    const type = $('type').value.trim();
    if (actor) q.set('actor', actor);
    if (type) q.set('type', type);
    if (!$('redact').checked) q.set('redact', 'off');
    if (token) q.set('token', token);
    setStatus('connecting', false);
    source = new EventSource('/debug/events?' + q);
    source.onopen = () => setStatus('live', true);
    source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting', false);
    source.onmessage = (m) => {
      if (paused) return;
      pending.push(JSON.parse(m.data));
      if (pending.length > MAX_ROWS) pending = pending.slice(-MAX_ROWS);
      if (!frame) frame = requestAnimationFrame(render);
    };
  }

  // After processing, a campaign's share of a batch: its items' outcomes, read at their indices.
  function outcomes(r) {
    const e = r.event;
    if (r.kind !== 'snapshot' || !e || !Array.isArray(e.out)) return '';
    const picked = Array.isArray(e.indices) ? e.indices.map((i) => e.out[i]).filter((o) => typeof o === 'string') : e.out;
    return picked.length ? ' → ' + picked.join(', ') : '';
  }

  function render() {
    frame = 0;
    const list = $('events');
    const rows = pending.map((r) => {
      const li = el('li');
      li.dataset.kind = r.kind;
      li.dataset.actor = r.actor;
      if (r.type) li.dataset.type = r.type;
      const time = new Date(r.time).toISOString().slice(11, 23);
      li.append(el('span', r.seq + ' ' + time + ' '), el('span', r.kind, 'kind'),
        el('span', (r.source ? r.source + ' → ' : '') + r.actor, 'actor'), el('span', ' ' + (r.type || ''), 'type'));
      const detail = r.event === undefined ? '' : JSON.stringify(r.event);
      li.append(el('span', (r.status ? ' [' + r.status + ']' : '') + outcomes(r) + ' ' + detail));
      li.title = detail;
      return li;
    });
    pending = [];
    list.prepend(...rows.reverse());
    while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
  }

  $('filters').addEventListener('submit', (e) => { e.preventDefault(); connect(); });
  $('pause').addEventListener('click', () => {
    paused = !paused;
    $('pause').textContent = paused ? 'resume' : 'pause';
  });
  $('clear').addEventListener('click', () => $('events').replaceChildren());
  refreshTree();
  setInterval(refreshTree, 2000);
  connect();
})();
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Allows exactly this page's inline script and style, and requests to this origin only. */
export const DEBUG_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DEBUG_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>impression-counter · actor inspector</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<h1>impression-counter · actor inspector <span id="status">connecting</span></h1>
<h2>Actor tree</h2>
<div id="registry">loading…</div>
<div id="tree-error" class="error"></div>
<table id="tree">
<thead><tr><th>actor</th><th>status</th><th class="n">restarts</th><th class="n">live keys</th><th class="n">total</th><th class="n">bytes</th></tr></thead>
<tbody id="campaigns"></tbody>
</table>
<h2>Live events</h2>
<form id="filters">
<label>actor <input type="text" id="actor" placeholder="registry, campaign:ID, campaign:*"></label>
<label>type <input type="text" id="type" value="!tick,!sweep,!describe" placeholder="impressions, event, !tick"></label>
<label><input type="checkbox" id="redact" checked> redact user ids</label>
<button type="submit">apply</button>
<button type="button" id="pause">pause</button>
<button type="button" id="clear">clear</button>
</form>
<ol id="events"></ol>
<script>${SCRIPT}</script>
</body>
</html>
`;
