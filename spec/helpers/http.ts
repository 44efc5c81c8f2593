import { request as httpRequest } from 'node:http';
import { expect } from 'chai';
import type { TestApp, TestResponse } from './app.js';

/** Shared builders and assertions for the HTTP specs. */

export const API = '/api/v1';

/** A start time safely in the past, so impressions are accepted whatever the (fake) clock says. */
export const LONG_AGO = '2000-01-01T00:00:00Z';

/** Creates a campaign (started long ago unless told otherwise) and returns its id. */
export async function createCampaign(t: TestApp, body: Record<string, unknown> = {}): Promise<string> {
  const res = await t.request('POST', `${API}/campaigns`, { name: 'campaign', start_time: LONG_AGO, ...body });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.id as string;
}

/** Every campaign `GET /campaigns?<query>` lists, walking its pages by cursor. */
export async function listAll(t: TestApp, query: string): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const res = await t.request('GET', `${API}/campaigns?${query}${cursor === null ? '' : `&cursor=${cursor}`}`);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    all.push(...(res.body.campaigns as Record<string, unknown>[]));
    cursor = res.body.next_cursor as string | null;
  } while (cursor !== null);
  return all;
}

export function impression(campaignId: string, userId: string, adId = 'ad-1'): Record<string, string> {
  return { campaign_id: campaignId, user_id: userId, ad_id: adId };
}

export function postImpression(t: TestApp, body: unknown): Promise<TestResponse> {
  return t.request('POST', `${API}/impressions`, body);
}

export async function stats(t: TestApp, campaignId: string): Promise<{ last_hour: number; last_day: number; total: number }> {
  const res = await t.request('GET', `${API}/campaigns/${encodeURIComponent(campaignId)}/stats`);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body;
}

/**
 * Asserts the one error shape: a JSON body of exactly `{error: string, code: number}` with
 * `code` equal to the HTTP status, and optionally a message containing `mentions`.
 */
export function expectError(res: TestResponse, status: number, ...mentions: string[]): void {
  const shown = JSON.stringify(res.body);
  expect(res.status, shown).to.equal(status);
  expect(res.headers.get('content-type') ?? '', shown).to.match(/^application\/json/);
  expect(res.body, shown).to.be.an('object');
  expect(Object.keys(res.body).sort(), shown).to.deep.equal(['code', 'error']);
  expect(res.body.code, shown).to.equal(status);
  expect(res.body.error, shown).to.be.a('string').and.not.equal('');
  for (const m of mentions) expect(res.body.error, shown).to.include(m);
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent as is; with `chunked`, written in two chunks without a Content-Length. */
  body?: string | Buffer;
  chunked?: boolean;
}

/**
 * A request over node:http with exact control of headers (fetch always adds a Content-Type to a
 * string body, and cannot send a chunked body without streams).
 */
export function rawRequest(baseUrl: string, req: RawRequest): Promise<TestResponse> {
  const url = new URL(req.path, baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined && !req.chunked) headers['content-length'] = String(Buffer.byteLength(req.body));
    const r = httpRequest(url, { method: req.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = bodyOf(Buffer.concat(chunks).toString());
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers: h, body });
      });
      res.on('error', reject);
    });
    // The server may answer (413, 415) and close before reading everything we send.
    r.on('error', reject);
    if (req.body !== undefined) {
      if (req.chunked) {
        const buf = Buffer.from(req.body);
        const half = Math.floor(buf.length / 2);
        r.write(buf.subarray(0, half));
        r.write(buf.subarray(half));
      } else {
        r.write(req.body);
      }
    }
    r.end();
  });
}

/** A response body as a test reads it: parsed JSON, the text itself when it is not JSON, undefined when empty. */
export function bodyOf(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return text; // not JSON: the text, for the assertion to show
  }
}
