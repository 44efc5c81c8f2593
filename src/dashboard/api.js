// The API as the dashboard calls it: the key kept for this tab, JSON errors turned into readable
// messages, and small helpers for building the page without innerHTML.

const KEY = 'impression-counter.key';
const SHARE = 'impression-counter.share';

/** The key this tab uses (sessionStorage: gone when the tab closes); '' for none (the loopback default). */
export const key = () => sessionStorage.getItem(KEY) || '';
export function setKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

/** The one campaign a share link opens, or '' outside share mode. */
export const sharedCampaign = () => sessionStorage.getItem(SHARE) || '';

/**
 * A share link carries its key in the URL fragment (`#share=<key>&c=<campaign>`), which browsers never
 * send to the server: it is moved into this tab's storage and wiped from the address bar.
 */
export function takeShareLink() {
  const m = /^#share=([^&]+)&c=([^&]+)$/.exec(location.hash);
  if (m === null) return;
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
  sessionStorage.setItem(SHARE, decodeURIComponent(m[2]));
  history.replaceState(null, '', `${location.pathname}#/c/${m[2]}`);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API; resolves with the parsed JSON, or rejects with an ApiError whose message is the API's. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = {};
  if (key()) headers.Authorization = `Bearer ${key()}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'the service cannot be reached');
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, explain(res.status, parsed && typeof parsed.error === 'string' ? parsed.error : `HTTP ${res.status}`));
  return parsed;
}

function explain(status, message) {
  if (status === 401) return `${message}. Enter an API key above.`;
  if (status === 403) return `${message}.`;
  return message;
}

/** Shows an error (or clears it with ''): the API's own message, readable. */
export function showError(err) {
  const box = document.getElementById('error');
  const message = err === '' ? '' : err.message || String(err);
  box.textContent = message;
  box.hidden = message === '';
}

/** Runs an async action, showing its failure. */
export const attempt = (fn) => (...args) => fn(...args).catch((err) => err.name === 'AbortError' || showError(err));

/** An element with attributes and children; text is only ever set as text. */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [type, fn] of Object.entries(v)) e.addEventListener(type, fn);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
export const num = (n) => integer.format(n);
export const pct = (x) => `${(x * 100).toFixed(2)} %`;
export const secs = (s) => `${s.toFixed(1)} s`;

/** A CSV file of rows (the first is the header), offered as a download. */
export function download(name, rows) {
  const cell = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const blob = new Blob([rows.map((r) => r.map(cell).join(',')).join('\n') + '\n'], { type: 'text/csv' });
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
