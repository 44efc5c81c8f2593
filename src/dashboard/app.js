// The dashboard's shell: the key, the routes (#/ the campaigns, #/c/<id> a campaign), the campaigns
// list with its search, paging and sparklines, and the form that creates a campaign.
import { api, attempt, h, key, num, setKey, sharedCampaign, showError, takeShareLink } from './api.js';
import { showCampaign } from './campaign.js';

const PAGE = 20;
const $ = (id) => document.getElementById(id);
let leave = () => {};

function route(event) {
  leave();
  leave = () => {};
  showError('');
  const shared = sharedCampaign();
  const m = /^#\/c\/(.+)$/.exec(location.hash);
  if (shared && (m === null || decodeURIComponent(m[1]) !== shared)) {
    // A share link opens its campaign and nothing else.
    location.hash = `#/c/${encodeURIComponent(shared)}`;
    return;
  }
  const view = $('view');
  if (m) leave = showCampaign(view, decodeURIComponent(m[1]), { shared: shared !== '' });
  else leave = showList(view);
  if (event) {
    // The link or button that had focus is gone with the old view: start the keyboard (and a screen
    // reader) at the new view's heading, as a page load would, not back at the top of the document.
    const heading = view.querySelector('h1');
    heading.tabIndex = -1;
    heading.focus();
  }
}

function showList(view) {
  const controller = new AbortController();
  const state = { q: '', cursors: [null] };
  const search = h('input', { type: 'search', id: 'search', 'aria-label': 'search campaigns by name', placeholder: 'search by name', maxLength: 200 });
  const body = h('tbody');
  const prev = h('button', { type: 'button', id: 'prev', disabled: true }, '← previous');
  const next = h('button', { type: 'button', id: 'next', disabled: true }, 'next →');
  const status = h('span', { id: 'page-status', 'aria-live': 'polite' });
  const name = h('input', { id: 'new-name', required: true, maxLength: 200, placeholder: 'Spring sale', 'aria-label': 'new campaign name' });
  const start = h('input', { id: 'new-start', type: 'datetime-local', 'aria-label': 'start (default: now)' });

  const load = attempt(async () => {
    const cursor = state.cursors[state.cursors.length - 1];
    const q = new URLSearchParams({ limit: String(PAGE), include: 'figures' });
    if (state.q) q.set('q', state.q);
    if (cursor) q.set('cursor', cursor);
    table.removeAttribute('data-ready');
    // One request: the page's campaigns come with their figures and sparklines.
    const page = await api(`/api/v1/campaigns?${q}`, { signal: controller.signal });
    body.replaceChildren(...page.campaigns.map(row));
    if (page.campaigns.length === 0) body.append(h('tr', {}, h('td', { colSpan: 6 }, state.q ? 'no campaign matches' : 'no campaigns yet')));
    state.next = page.next_cursor;
    prev.disabled = state.cursors.length === 1;
    next.disabled = page.next_cursor === null;
    status.textContent = `page ${state.cursors.length}`;
    body.querySelectorAll('canvas.spark').forEach((canvas, i) => sparkline(canvas, page.campaigns[i].hourly));
    table.dataset.ready = String(performance.now());
  });

  const table = h('table', { id: 'campaigns' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'campaign'), h('th', { scope: 'col', class: 'start' }, 'start'), h('th', { scope: 'col', class: 'n' }, 'total'),
      h('th', { scope: 'col', class: 'n' }, 'last hour'), h('th', { scope: 'col', class: 'n' }, 'last day'), h('th', { scope: 'col' }, 'last 24\u00a0h'))),
    body);
  let typing;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.q = search.value.trim();
      state.cursors = [null];
      load();
    }, 250);
  });
  prev.addEventListener('click', () => {
    state.cursors.pop();
    load();
  });
  next.addEventListener('click', () => {
    state.cursors.push(state.next);
    load();
  });
  const create = h('form', { id: 'create', class: 'inline', on: {
    submit: attempt(async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim() };
      if (start.value) body.start_time = new Date(start.value).toISOString();
      const c = await api('/api/v1/campaigns', { method: 'POST', body });
      location.hash = `#/c/${encodeURIComponent(c.id)}`;
    }),
  } }, h('label', {}, 'name ', name), h('label', {}, 'start ', start), h('button', {}, 'create campaign'));

  view.replaceChildren(
    h('h1', {}, 'Campaigns'),
    h('div', { class: 'bar' }, search, h('span', { class: 'pager' }, prev, status, next)),
    h('div', { class: 'scroll' }, table),
    h('details', { class: 'manage' }, h('summary', {}, 'New campaign (admin key)'), create),
  );
  load();
  return () => controller.abort();
}

/** One campaign's row, with its figures; its sparkline is drawn once the row is in the page (it reads the row's colour). */
function row(c) {
  return h('tr', { dataset: { campaign: c.id } },
    h('th', { scope: 'row' }, h('a', { href: `#/c/${encodeURIComponent(c.id)}` }, c.name)),
    h('td', { class: 'start' }, new Date(c.start_time).toLocaleString()),
    h('td', { class: 'n' }, num(c.total)), h('td', { class: 'n' }, num(c.last_hour)), h('td', { class: 'n' }, num(c.last_day)),
    h('td', {}, h('canvas', { width: 120, height: 24, class: 'spark', role: 'img', 'aria-label': 'impressions per hour over the last 24 hours' })));
}

/** A plain canvas line: a chart library per row would cost more than the row. */
function sparkline(canvas, values) {
  const g = canvas.getContext('2d');
  const { width, height } = canvas;
  const max = Math.max(1, ...values);
  g.clearRect(0, 0, width, height);
  g.strokeStyle = getComputedStyle(canvas).color;
  g.lineWidth = 1.5;
  g.beginPath();
  values.forEach((v, i) => {
    const x = values.length === 1 ? width : (i / (values.length - 1)) * (width - 2) + 1;
    const y = height - 2 - (v / max) * (height - 4);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  canvas.dataset.points = String(values.reduce((a, b) => a + b, 0));
}

function shell() {
  takeShareLink();
  const input = $('key');
  const shared = sharedCampaign() !== '';
  document.body.classList.toggle('shared', shared);
  $('key-state').textContent = shared ? 'shared read-only view' : key() ? 'key set for this tab' : 'no key (loopback only)';
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setKey(input.value.trim());
    input.value = '';
    location.reload();
  });
  $('forget').addEventListener('click', () => {
    setKey('');
    sessionStorage.clear();
    location.hash = '#/';
    location.reload();
  });
  window.addEventListener('hashchange', route);
  route();
}

shell();
