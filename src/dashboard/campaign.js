// One campaign's page: tiles, the impressions and clicks chart (uPlot) with its window and time-zone
// pickers, raw vs counted, the per-ad table, CSV downloads of what is shown, live updates over SSE,
// and (with an admin key) registering ads and making share links.
import { api, attempt, download, h, key, num, pct, secs, showError } from './api.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PRESETS = { '1h': { span: HOUR, interval: 'minute' }, '24h': { span: DAY, interval: 'hour' }, '7d': { span: 7 * DAY, interval: 'hour' }, '30d': { span: 30 * DAY, interval: 'day' } };
/** The analytics API's trailing windows, smallest first: a custom range's tiles use the first that covers it. */
const WINDOWS = [['1h', HOUR], ['6h', 6 * HOUR], ['24h', DAY], ['7d', 7 * DAY], ['30d', 30 * DAY]];
const TILES = [
  ['total', 'Total'], ['last_hour', 'Last hour'], ['last_day', 'Last day'],
  ['unique_users', 'Unique reach'], ['clicks', 'Clicks'], ['ctr', 'CTR'], ['avg_playback_time', 'Avg playback'],
];
const COLUMNS = [
  ['ad', 'ad', (a) => a.ad_id], ['impressions', 'impressions', (a) => num(a.impressions)], ['raw_impressions', 'raw', (a) => num(a.raw_impressions)],
  ['clicks', 'clicks', (a) => num(a.clicks)], ['ctr', 'CTR', (a) => pct(a.ctr)], ['unique_users', 'reach', (a) => num(a.unique_users)],
  ['avg_playback_time', 'avg playback', (a) => secs(a.avg_playback_time)],
];
const SHARE_DAYS = [1, 7, 30];
const LIVE_MIN_MS = 1000;

/** Milliseconds since the epoch of a `datetime-local` value read as wall-clock time in `zone`. */
function wallTime(value, zone) {
  const asUtc = Date.parse(`${value}Z`);
  const offset = (ms) => {
    const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(ms).find((p) => p.type === 'timeZoneName').value;
    const m = /([+-])(\d\d):(\d\d)/.exec(name);
    return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * HOUR + Number(m[3]) * 60_000) : 0;
  };
  // The zone's offset at the guess, then at the instant it gives: right on both sides of a DST change.
  return asUtc - offset(asUtc - offset(asUtc));
}

export function showCampaign(view, id, { shared }) {
  const controller = new AbortController();
  const signal = controller.signal;
  const path = `/api/v1/campaigns/${encodeURIComponent(id)}`;
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const state = { preset: '24h', tz: browserZone, sort: 'impressions', dir: -1, ads: [], names: new Map(), buckets: [], chart: undefined };

  const tiles = new Map(TILES.map(([k]) => [k, h('output', { class: 'value', id: `tile-${k}` }, '…')]));
  const windowNote = h('span', { class: 'note' });
  const title = h('h1', {}, id);
  const started = h('p', { class: 'note' });
  const live = h('span', { id: 'live', class: 'pill' }, 'connecting');
  const presets = h('select', { id: 'window', 'aria-label': 'window' }, ...Object.keys(PRESETS).map((p) => h('option', { value: p, selected: p === state.preset }, p)), h('option', { value: 'range' }, 'range…'));
  const from = h('input', { type: 'datetime-local', id: 'from', 'aria-label': 'from' });
  const to = h('input', { type: 'datetime-local', id: 'to', 'aria-label': 'to' });
  const range = h('span', { id: 'range', hidden: true }, from, to, h('button', { type: 'button', on: { click: () => refresh() } }, 'apply'));
  const zones = [...new Set(['UTC', browserZone, ...(Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [])])];
  const tz = h('select', { id: 'tz', 'aria-label': 'time zone' }, ...zones.map((z) => h('option', { value: z, selected: z === state.tz }, z)));
  const chart = h('div', { id: 'chart', role: 'img', 'aria-label': 'impressions and clicks over the window' });
  const quality = h('dl', { id: 'quality' });
  const bar = h('div', { class: 'stack', 'aria-hidden': 'true' });
  const head = h('tr');
  const body = h('tbody');

  presets.addEventListener('change', () => {
    range.hidden = presets.value !== 'range';
    if (presets.value !== 'range') {
      state.preset = presets.value;
      refresh(true);
    }
  });
  tz.addEventListener('change', () => {
    state.tz = tz.value;
    refresh(true);
  });

  /** The window shown: the series' query and the analytics window its tiles use. */
  function span() {
    const now = Date.now();
    if (presets.value !== 'range') {
      const p = PRESETS[state.preset];
      return { from: now - p.span, to: now, interval: p.interval, window: state.preset };
    }
    // The range is wall-clock time in the chosen zone, the one the chart's axis shows, not the browser's.
    const f = from.value ? wallTime(from.value, state.tz) : now - DAY;
    const t = to.value ? wallTime(to.value, state.tz) : now;
    const width = t - f;
    const interval = width <= 6 * HOUR && now - f <= 47 * HOUR ? 'minute' : width <= 40 * DAY ? 'hour' : 'day';
    const covering = WINDOWS.find(([, ms]) => ms >= now - f) ?? WINDOWS[WINDOWS.length - 1];
    return { from: f, to: t, interval, window: covering[0] };
  }

  let inFlight = false;
  let again = false;
  let rebuildAgain = false;
  let last = 0;
  let timer;
  /** Reads everything shown; live updates call it at most once a second. */
  const refresh = attempt(async (rebuild = false) => {
    if (inFlight) {
      // Once this read is done, read again (and redraw the chart whole if a picker asked for it).
      again = true;
      rebuildAgain ||= rebuild;
      return;
    }
    inFlight = true;
    try {
      const s = span();
      const q = new URLSearchParams({ interval: s.interval, from: new Date(s.from).toISOString(), to: new Date(s.to).toISOString(), tz: state.tz });
      const [stats, analytics, series] = await Promise.all([
        api(`${path}/stats`, { signal }),
        api(`${path}/analytics?window=${s.window}&group_by=ad`, { signal }),
        api(`${path}/timeseries?${q}`, { signal }),
      ]);
      showError('');
      showCounts(stats);
      for (const [k] of TILES.slice(3)) tiles.get(k).textContent = k === 'ctr' ? pct(analytics[k]) : k === 'avg_playback_time' ? secs(analytics[k]) : num(analytics[k]);
      windowNote.textContent = `reach, clicks, CTR and playback: trailing ${s.window}`;
      showQuality(analytics);
      state.ads = analytics.ads;
      showAds();
      state.buckets = series.buckets;
      draw(rebuild);
      view.dataset.refreshed = String(Date.now());
    } finally {
      inFlight = false;
      last = Date.now();
      if (again) {
        const whole = rebuildAgain;
        again = rebuildAgain = false;
        soon(whole);
      }
    }
  });
  const soon = (rebuild = false) => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh(rebuild), rebuild ? 0 : Math.max(0, last + LIVE_MIN_MS - Date.now()));
  };

  function showCounts(stats) {
    for (const k of ['total', 'last_hour', 'last_day']) tiles.get(k).textContent = num(stats[k]);
  }

  function showQuality(a) {
    const parts = [['raw_impressions', 'raw'], ['impressions', 'counted'], ['duplicates', 'duplicates'], ['bot_filtered', 'bot-filtered']];
    quality.replaceChildren(...parts.flatMap(([k, label]) => [h('dt', {}, label), h('dd', { id: `q-${k}` }, num(a[k]))]));
    const raw = Math.max(1, a.raw_impressions + a.bot_filtered);
    bar.replaceChildren(...[['impressions', 'counted'], ['duplicates', 'dup'], ['bot_filtered', 'bot']].map(([k, cls]) => {
      const seg = h('span', { class: cls });
      seg.style.width = `${(100 * a[k]) / raw}%`;
      return seg;
    }));
  }

  function showAds() {
    // The header is redrawn (a sort, a live update): keep the keyboard on the button it was on.
    const keep = head.contains(document.activeElement) ? document.activeElement.dataset.sort : undefined;
    const rows = [...state.ads].sort((x, y) => {
      const a = state.sort === 'ad' ? x.ad_id : x[state.sort];
      const b = state.sort === 'ad' ? y.ad_id : y[state.sort];
      return (a < b ? -1 : a > b ? 1 : 0) * state.dir;
    });
    head.replaceChildren(...COLUMNS.map(([k, label]) => {
      const sorted = state.sort === k;
      const button = h('button', { type: 'button', dataset: { sort: k }, on: { click: () => {
        state.dir = sorted ? -state.dir : k === 'ad' ? 1 : -1;
        state.sort = k;
        showAds();
      } } }, label, sorted ? (state.dir > 0 ? ' ▲' : ' ▼') : '');
      return h('th', { scope: 'col', class: k === 'ad' ? '' : 'n', 'aria-sort': sorted ? (state.dir > 0 ? 'ascending' : 'descending') : 'none' }, button);
    }));
    body.replaceChildren(...rows.map((a) => h('tr', { dataset: { ad: a.ad_id } }, ...COLUMNS.map(([k, , show]) =>
      k === 'ad' ? h('th', { scope: 'row' }, state.names.get(a.ad_id) ? `${state.names.get(a.ad_id)} (${a.ad_id})` : a.ad_id) : h('td', { class: 'n' }, show(a))))));
    if (rows.length === 0) body.append(h('tr', {}, h('td', { colSpan: COLUMNS.length }, 'no impressions or clicks in this window')));
    if (keep) head.querySelector(`button[data-sort="${keep}"]`).focus();
    state.shownAds = rows;
  }

  function draw(rebuild) {
    const xs = state.buckets.map((b) => Date.parse(b.start) / 1000);
    const data = [xs, state.buckets.map((b) => b.impressions), state.buckets.map((b) => b.clicks)];
    chart.dataset.points = String(data[1].reduce((a, b) => a + b, 0));
    if (state.chart && !rebuild) {
      state.chart.setData(data);
      return;
    }
    state.chart?.destroy();
    const ink = getComputedStyle(document.body).color;
    const axis = { stroke: ink, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.3)' } };
    const zone = state.tz;
    state.chart = new globalThis.uPlot({
      width: Math.max(280, chart.clientWidth),
      height: 260,
      tzDate: (ts) => globalThis.uPlot.tzDate(new Date(ts * 1000), zone),
      series: [{}, { label: 'impressions', stroke: '#2563eb', width: 2, fill: 'rgba(37,99,235,0.12)', points: { show: false } }, { label: 'clicks', stroke: '#d97706', width: 2, points: { show: false } }],
      axes: [axis, axis],
    }, data, chart);
  }

  const resize = () => state.chart?.setSize({ width: Math.max(280, chart.clientWidth), height: 260 });
  window.addEventListener('resize', resize);

  // Live: the service reads the campaign once a second while this page is open and says when it changed.
  const token = key() ? `?token=${encodeURIComponent(key())}` : '';
  const source = new EventSource(`${path}/events${token}`);
  source.onopen = () => {
    live.textContent = 'live';
    live.classList.add('on');
  };
  source.onerror = () => {
    live.classList.remove('on');
    live.textContent = source.readyState === EventSource.CLOSED ? 'not live' : 'reconnecting';
    // Closed for good (a revoked or expired key, a full server): the API says why.
    if (source.readyState === EventSource.CLOSED) refresh();
  };
  let firstEvent = true;
  source.onmessage = (m) => {
    const figures = JSON.parse(m.data);
    showCounts(figures);
    view.dataset.live = String(figures.total);
    if (firstEvent) firstEvent = false;
    else soon();
  };

  const downloads = h('p', { class: 'bar' },
    h('button', { type: 'button', id: 'csv-series', on: { click: () => download(`${id}-series.csv`, [['start', 'impressions', 'clicks'], ...state.buckets.map((b) => [b.start, b.impressions, b.clicks])]) } }, 'download chart CSV'),
    h('button', { type: 'button', id: 'csv-ads', on: { click: () => download(`${id}-ads.csv`, [COLUMNS.map(([k]) => (k === 'ad' ? 'ad_id' : k)), ...(state.shownAds ?? []).map((a) => COLUMNS.map(([k]) => (k === 'ad' ? a.ad_id : a[k])))]) } }, 'download ads CSV'));

  view.replaceChildren(
    shared ? '' : h('p', {}, h('a', { href: '#/' }, '← campaigns')),
    h('div', { class: 'bar' }, title, live),
    started,
    h('section', { class: 'tiles', 'aria-label': 'figures' }, ...TILES.map(([k, label]) => h('div', { class: 'tile' }, h('span', { class: 'label' }, label), tiles.get(k)))),
    windowNote,
    h('div', { class: 'bar controls' }, h('label', {}, 'window ', presets), range, h('label', {}, 'time zone ', tz)),
    chart,
    h('h2', {}, 'Raw vs counted'),
    bar,
    quality,
    h('h2', {}, 'Ads'),
    h('div', { class: 'scroll' }, h('table', { id: 'ads' }, h('thead', {}, head), body)),
    downloads,
    shared ? '' : manage(id, path, signal, () => loadNames().then(() => refresh())),
  );

  const loadNames = async () => {
    const page = await api(`${path}/ads?limit=1000`, { signal });
    state.names = new Map(page.ads.map((a) => [a.id, a.name]));
  };
  attempt(async () => {
    const c = await api(path, { signal });
    title.textContent = c.name;
    document.title = `${c.name} · impression-counter`;
    started.textContent = `starts ${new Date(c.start_time).toLocaleString()} · id ${c.id}`;
    await loadNames().catch(() => undefined);
    await refresh(true);
  })();

  return () => {
    controller.abort();
    source.close();
    clearTimeout(timer);
    window.removeEventListener('resize', resize);
    state.chart?.destroy();
  };
}

/** Admin only (the API refuses other keys, and says so): register an ad, make and revoke share links. */
function manage(id, path, signal, changed) {
  const field = (name, attrs) => h('label', {}, `${name} `, h('input', { required: true, ...attrs }));
  const adForm = h('form', { id: 'ad-form', class: 'inline', on: {
    submit: attempt(async (e) => {
      e.preventDefault();
      const f = new FormData(adForm);
      const body = { name: f.get('name'), image_url: f.get('image_url'), target_url: f.get('target_url') };
      if (f.get('id')) body.id = f.get('id');
      await api(`${path}/ads`, { method: 'POST', body });
      adForm.reset();
      await changed();
    }),
  } },
  field('ad id', { name: 'id', required: false, maxLength: 256, placeholder: 'optional' }), field('name', { name: 'name', maxLength: 200 }),
  field('image URL', { name: 'image_url', type: 'url' }), field('target URL', { name: 'target_url', type: 'url' }), h('button', {}, 'register ad'));

  const days = h('select', { id: 'share-days', 'aria-label': 'link valid for' }, ...SHARE_DAYS.map((d) => h('option', { value: d }, `${d} day${d > 1 ? 's' : ''}`)));
  const link = h('input', { id: 'share-link', readOnly: true, 'aria-label': 'share link', placeholder: 'the link appears here' });
  const links = h('ul', { id: 'share-links' });
  const listLinks = attempt(async () => {
    const all = await api('/api/v1/keys', { signal });
    const mine = all.keys.filter((k) => k.campaigns?.length === 1 && k.campaigns[0] === id && k.scopes.join() === 'read');
    links.replaceChildren(...mine.map((k) => h('li', { dataset: { key: k.id } },
      `${k.name ?? k.id}, ${k.expires_at ? `until ${new Date(k.expires_at).toLocaleString()}` : 'no end'} `,
      h('button', { type: 'button', on: { click: attempt(async () => {
        await api(`/api/v1/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
        await listLinks();
      }) } }, 'revoke'))));
  });
  const shareForm = h('form', { id: 'share-form', class: 'inline', on: {
    submit: attempt(async (e) => {
      e.preventDefault();
      const expires = new Date(Date.now() + Number(days.value) * DAY).toISOString();
      const k = await api('/api/v1/keys', { method: 'POST', body: { scopes: ['read'], campaigns: [id], expires_at: expires, name: `share link (${days.value} d)` } });
      link.value = `${location.origin}/#share=${encodeURIComponent(k.key)}&c=${encodeURIComponent(id)}`;
      link.select();
      await listLinks();
    }),
  } }, h('label', {}, 'valid for ', days), h('button', {}, 'create share link'), link);

  const section = h('details', { class: 'manage' }, h('summary', {}, 'Manage (admin key)'),
    h('h2', {}, 'Register an ad'), adForm, h('h2', {}, 'Share read-only'), shareForm, links);
  section.addEventListener('toggle', () => section.open && listLinks(), { once: true });
  return section;
}
