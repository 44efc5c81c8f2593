import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** A Server-Sent Events client over node:http, for specs of `/debug/events`. */
export interface SseClient {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The parsed `data:` of every frame so far, in order. */
  readonly records: any[];
  /** Raw frames as received, to check what never went over the wire. */
  readonly frames: string[];
  /** The JSON body when the answer was not a stream (an error). */
  readonly body: any;
  /** Settles when the server ends or cuts the stream. */
  readonly ended: Promise<void>;
  /** The first value `pick` returns other than undefined, re-checked as frames arrive. */
  waitFor<T>(pick: (records: readonly any[]) => T | undefined, what: string, timeoutMs?: number): Promise<T>;
  /** Disconnects, as a browser tab closing would. */
  close(): void;
}

/** Opens `path` as an event stream; resolves once the response headers are in. */
export function openSse(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, baseUrl), { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      const records: any[] = [];
      const frames: string[] = [];
      const listeners = new Set<() => void>();
      let buffered = '';
      let text = '';
      const stream = res.headers['content-type']?.startsWith('text/event-stream') === true;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (!stream) {
          text += chunk;
          return;
        }
        buffered += chunk;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          frames.push(frame);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6));
          if (data.length > 0) records.push(JSON.parse(data.join('\n')));
        }
        for (const l of listeners) l();
      });
      const ended = new Promise<void>((done) => {
        res.on('close', () => {
          for (const l of listeners) l();
          done();
        });
      });
      res.on('error', () => {});
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        records,
        frames,
        get body() {
          return text === '' ? undefined : JSON.parse(text);
        },
        ended,
        waitFor<T>(pick: (records: readonly any[]) => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
          return new Promise<T>((ok, fail) => {
            const check = (): void => {
              const found = pick(records);
              if (found !== undefined) {
                finish();
                ok(found);
              } else if (res.closed) {
                finish();
                fail(new Error(`stream ended while waiting for ${what}; got ${records.length} records`));
              }
            };
            const timer = setTimeout(() => {
              finish();
              fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${records.length} records`));
            }, timeoutMs);
            const finish = (): void => {
              clearTimeout(timer);
              listeners.delete(check);
            };
            listeners.add(check);
            check();
          });
        },
        close() {
          req.destroy();
        },
      };
      if (stream) resolve(client);
      else res.on('end', () => resolve(client));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls `condition` until it holds, failing after `timeoutMs`: a bounded wait, never a fixed sleep. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
