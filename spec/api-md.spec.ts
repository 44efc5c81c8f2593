import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { TestApp } from './helpers/app.js';
import { FixedClock, FULL_ADMIN_KEY, startFullApp } from './helpers/full-app.js';

/**
 * Docs that run: every `$ curl …` in api.md's ```console blocks is sent, in document order, to one
 * throw-away app on a clock that stands still, and what it answers must be what api.md shows after
 * it. Generated values are matched by shape and bound on first sight: a UUID or a 16-hex key id
 * that api.md shows stands for the one the app made (and is sent as that one afterwards; an id first
 * seen in a request names a campaign created for it), and times and epoch milliseconds within three
 * days of the clock match any of the same form, and so does a `next_cursor` (bound like an id). `…`
 * stands for the rest of a string; `$ sleep <s>` moves the clock.
 *
 * API_MD_PRINT=1 prints what the app answered instead (with api.md's ids put back), to paste.
 */

const API_MD = fileURLToPath(new URL('../api.md', import.meta.url));
/** When the examples run: every generated time is this instant. */
const CLOCK = Date.parse('2026-11-22T04:51:20.563Z');
const NEAR_MS = 3 * 86_400_000;
const PRINT = process.env.API_MD_PRINT === '1';

interface Example {
  readonly section: string;
  readonly line: number;
  readonly command: string;
  readonly output: string;
}

/** Every `$ ` command of every ```console block, with the text api.md shows after it. */
export function examples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const out: Example[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('## ')) section = lines[i].slice(3);
    if (lines[i] !== '```console') continue;
    let j = i + 1;
    while (j < lines.length && lines[j] !== '```') {
      if (!lines[j].startsWith('$ ')) throw new Error(`api.md:${j + 1}: a console block holds \`$ \` commands and their output only`);
      const start = j;
      let command = lines[j].slice(2);
      while (j + 1 < lines.length && (command.endsWith('\\') || !balanced(command))) command += '\n' + lines[++j];
      j++;
      const output: string[] = [];
      while (j < lines.length && lines[j] !== '```' && !lines[j].startsWith('$ ')) output.push(lines[j++]);
      while (output.length > 0 && output[output.length - 1] === '') output.pop();
      out.push({ section, line: start + 1, command, output: output.join('\n') });
    }
    i = j;
  }
  return out;
}

function balanced(text: string): boolean {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === undefined && c === '\\') i++;
    else if (quote === undefined && (c === "'" || c === '"')) quote = c;
    else if (quote === c) quote = undefined;
    else if (quote === '"' && c === '\\') i++;
  }
  return quote === undefined;
}

/** Shell words (quotes, `$VAR`, `\` line continuations), `|` between stages, `#` comments dropped. */
export function words(command: string, vars: Record<string, string>): string[][] {
  const stages: string[][] = [[]];
  let word: string | undefined;
  const push = (): void => {
    if (word !== undefined) stages[stages.length - 1].push(word);
    word = undefined;
  };
  const variable = (from: number): [string, number] => {
    const m = /^\$(\w+)/.exec(command.slice(from)) as RegExpExecArray;
    if (!(m[1] in vars)) throw new Error(`unknown variable $${m[1]}`);
    return [vars[m[1]], from + m[0].length];
  };
  for (let i = 0; i < command.length; ) {
    const c = command[i];
    if (c === '\\' && command[i + 1] === '\n') i += 2;
    else if (/\s/.test(c)) {
      push();
      i++;
    } else if (c === '#' && word === undefined) {
      while (i < command.length && command[i] !== '\n') i++;
    } else if (c === '|') {
      push();
      stages.push([]);
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      word = (word ?? '') + command.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      word ??= '';
      i++;
      while (command[i] !== '"') {
        if (command[i] === '\\' && '"\\$'.includes(command[i + 1])) {
          word += command[i + 1];
          i += 2;
        } else if (command[i] === '$') {
          const [value, next] = variable(i);
          word += value;
          i = next;
        } else word += command[i++];
      }
      i++;
    } else if (c === '$') {
      const [value, next] = variable(i);
      word = (word ?? '') + value;
      i = next;
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  push();
  return stages;
}

/** printf's output: `%s` replaced by the arguments, `\xHH` as that byte. */
function printf(args: string[]): Buffer {
  let k = 1;
  const text = args[0].replace(/%s/g, () => args[k++] ?? '');
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === 'x') {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(...Buffer.from(text[i]));
  }
  return Buffer.from(bytes);
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const GENERATED = new RegExp(`(?<="next_cursor":")([\\w-]{8,})(?=")|(${UUID})|(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d{3})?(?:Z|[+-]\\d\\d:\\d\\d))|(?<![0-9a-f])([0-9a-f]{16})(?![0-9a-f])|(?<!\\d)(\\d{13})(?!\\d)|(…)`, 'g');
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Ids api.md shows, bound to those the app made. */
class Bindings {
  readonly live = new Map<string, string>();

  /** `text` with every bound id api.md shows replaced by the app's. */
  toLive(text: string): string {
    let out = text;
    for (const [doc, live] of this.live) out = out.replaceAll(doc, live);
    return out;
  }

  /** `text` with every bound id the app made replaced by api.md's. */
  toDoc(text: string): string {
    let out = text;
    for (const [doc, live] of this.live) out = out.replaceAll(live, doc);
    return out;
  }

  /** Whether the app's text matches api.md's, binding the ids it shows for the first time. */
  match(doc: string, live: string): boolean {
    const names = new Map<string, string>();
    let pattern = '';
    let last = 0;
    for (const m of doc.matchAll(GENERATED)) {
      pattern += escape(doc.slice(last, m.index));
      last = (m.index as number) + m[0].length;
      const [, cursor, uuid, time, hex, epoch, rest] = m;
      const id = cursor ?? uuid ?? hex;
      if (id !== undefined) {
        const bound = this.live.get(id);
        if (bound !== undefined) pattern += escape(bound);
        else if (names.has(id)) pattern += `\\k<${names.get(id) as string}>`;
        else {
          const name = `g${names.size}`;
          names.set(id, name);
          pattern += `(?<${name}>${cursor !== undefined ? '[\\w-]+' : uuid !== undefined ? UUID : '[0-9a-f]{16}'})`;
        }
      } else if (time !== undefined && Math.abs(Date.parse(time) - CLOCK) <= NEAR_MS && !/:00(\.000)?(Z|[+-])/.test(time)) {
        pattern += time.replace(/\d/g, '\\d').replace(/[.+]/g, '\\$&');
      } else if (epoch !== undefined && Math.abs(Number(epoch) - CLOCK) <= NEAR_MS) pattern += '\\d{13}';
      else if (rest !== undefined) pattern += '[^"\\n]*';
      else pattern += escape(m[0]);
    }
    pattern += escape(doc.slice(last));
    const got = new RegExp(`^${pattern}$`).exec(live);
    if (got === null) return false;
    for (const [id, name] of names) this.live.set(id, got.groups?.[name] as string);
    return true;
  }
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

describe('api.md: every example runs and answers what it shows', () => {
  const all = examples(readFileSync(API_MD, 'utf8'));
  const clock = new FixedClock(CLOCK);
  const bindings = new Bindings();
  let t: TestApp;
  let base: string;
  const vars: Record<string, string> = {};

  before(async () => {
    t = await startFullApp({
      clock,
      clickTtlMs: 600_000,
      deps: () => ({ redisAdmin: { acceptReset: () => Promise.resolve({ accepted: true, epoch: '3f0c9d2e7a41', repairedSlots: 1 }) } }),
    });
    base = t.baseUrl;
    const key = async (scope: string): Promise<string> => (await t.request('POST', '/api/v1/keys', { scopes: [scope], name: `example ${scope} key` })).body.key as string;
    Object.assign(vars, { B: base, ADMIN_KEY: FULL_ADMIN_KEY, WRITE_KEY: await key('write'), KEY: await key('read'), ID: 'dba8e22f-b351-42ea-aca8-3f2a8cd90aa6' });
  });
  after(() => t.close());

  /** An id api.md uses in a request before any answer showed it: a campaign made for it. */
  async function bindUnseen(text: string): Promise<void> {
    for (const [id] of text.matchAll(new RegExp(UUID, 'g'))) {
      if (bindings.live.has(id)) continue;
      const made = await t.request('POST', '/api/v1/campaigns', { name: 'example', start_time: '2026-01-01T00:00:00Z' });
      bindings.live.set(id, made.body.id as string);
    }
  }

  /** Runs one command line as a shell would run curl and the tools piped to it. */
  async function run(command: string, shows: string): Promise<Answer & { shown: string }> {
    const stages = words(command, vars);
    // Time passes only when an example says so.
    if (stages[0][0] === 'sleep') {
      clock.at += Number(stages[0][1]) * 1000;
      return { status: 0, headers: new Headers(), text: '', shown: '' };
    }
    let stdin: Buffer | undefined;
    if (stages[0][0] === 'printf') stdin = printf(stages.shift()!.slice(1));
    const [curl, ...filters] = stages;
    expect(curl[0], command).to.equal('curl');
    let method: string | undefined;
    let url: string | undefined;
    let body: string | Buffer | undefined;
    let head = false;
    let stream = false;
    const headers: Record<string, string> = {};
    for (let i = 1; i < curl.length; i++) {
      const arg = curl[i];
      if (/^-[siN]+$/.test(arg)) {
        head ||= arg.includes('i');
        stream ||= arg.includes('N');
      }
      else if (arg === '-X') method = curl[++i];
      else if (arg === '-H') {
        const [name, ...value] = curl[++i].split(':');
        headers[name.toLowerCase()] = value.join(':').trim();
      } else if (arg === '-d') body = curl[++i];
      else if (arg === '--data-binary') body = curl[++i] === '@-' ? stdin : curl[i];
      else if (!arg.startsWith('-')) url = arg.startsWith('http') ? arg : `http://${arg}`;
      else throw new Error(`curl option ${arg} is not understood by this spec`);
    }
    expect(url, command).to.be.a('string');
    await bindUnseen(`${url as string} ${typeof body === 'string' ? body : ''}`);
    const init: RequestInit = { method: method ?? (body === undefined ? 'GET' : 'POST'), redirect: 'manual', headers: { authorization: `Bearer ${FULL_ADMIN_KEY}`, ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? bindings.toLive(body) : new Uint8Array(Buffer.from(bindings.toLive(body.toString('latin1')), 'latin1'));
      (init.headers as Record<string, string>)['content-type'] ??= 'application/x-www-form-urlencoded';
    }
    const res = await fetch(bindings.toLive(url as string), init);
    let text: string;
    if (stream) {
      text = '';
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      // Enough of the stream: as many blank-line-ended records as the example shows, or what came within a second.
      const records = shows.split('\n\n').length;
      const timer = setTimeout(() => void reader.cancel(), 1000);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
        if (/\n\n$/.test(text) && text.split('\n\n').length > records) break;
      }
      clearTimeout(timer);
      await reader.cancel();
    } else text = await res.text();
    text = text.replaceAll(base, 'http://127.0.0.1:8080').replace(/\n+$/, '');
    let shown = text;
    for (const filter of filters) {
      if (filter[0] === 'jq' && filter[1] === '-c' && filter[2] === '.paths | keys') shown = JSON.stringify(Object.keys(JSON.parse(shown).paths as object).sort());
      else if (filter[0] === 'grep' && filter[1] === '-E') shown = shown.split('\n').filter((l) => new RegExp(filter[2]).test(l)).join('\n');
      else throw new Error(`${filter.join(' ')} is not understood by this spec`);
    }
    if (head) {
      const lines = [`HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`, ...[...res.headers].map(([k, v]) => `${k}: ${v}`), '', shown];
      return { status: res.status, headers: res.headers, text, shown: lines.join('\n') };
    }
    return { status: res.status, headers: res.headers, text, shown };
  }

  it('api.md has examples in the sections that show the calls', () => {
    expect(all.length).to.be.greaterThan(30);
  });

  it('every example answers what api.md shows after it', async () => {
    const printed: string[] = [];
    for (const example of all) {
      const where = `api.md:${example.line} (${example.section}): $ ${example.command}`;
      const answer = await run(example.command, example.output);
      let body = example.output;
      if (body.startsWith('HTTP/1.1 ')) {
        const [head, ...rest] = body.split('\n\n');
        body = rest.join('\n\n');
        const [status, ...headerLines] = head.split('\n');
        if (!PRINT) expect(answer.status, where).to.equal(Number(status.split(' ')[1]));
        for (const line of headerLines) {
          const [name, ...value] = line.split(': ');
          const got = answer.headers.get(name) ?? '(none)';
          const matches = bindings.match(value.join(': '), got);
          if (!PRINT) expect(matches, `${where}\n${name}: ${bindings.toDoc(got)}`).to.equal(true);
        }
      }
      const live = answer.shown.startsWith('HTTP/1.1 ') ? answer.shown.split('\n\n').slice(1).join('\n\n') : answer.shown;
      const matches = bindings.match(body, live);
      if (PRINT && !matches) printed.push(`api.md:${example.line}\n${bindings.toDoc(answer.shown)}\n`);
      else expect(matches, `${where}\nshows:\n${body}\nanswered:\n${bindings.toDoc(live)}`).to.equal(true);
    }
    if (PRINT) console.log(printed.join('\n'));
  });
});
