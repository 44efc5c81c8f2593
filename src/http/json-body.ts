import type { IncomingMessage } from 'node:http';
import coBody from 'co-body';
import type { Context, Middleware, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { AppError } from '../errors.js';
import { UNBOUNDED, type BodyBudget } from './body-budget.js';
import { invalidUtf8, Utf8Stream } from './unicode.js';

/**
 * co-body's options for every JSON body, Koa's and the fast lane's: any JSON text (not only objects
 * and arrays: the schemas answer for the rest), `__proto__` kept as data (the schemas refuse it as an
 * unknown field, and JSON.parse never makes it a prototype), and the decoded text returned too, to
 * name the field of an invalid byte.
 */
function parserOptions(limitBytes: number) {
  return { limit: limitBytes, strict: false, onProtoPoisoning: 'ignore', returnRawBody: true } as const;
}

/**
 * koa-bodyparser reading a JSON request body of at most `limitBytes`, within `budget`; anything but
 * `application/json` sent as it is is a 415 (koa-bodyparser would skip other types, and inflate gzip).
 */
export function jsonBody(limitBytes: number, budget: BodyBudget = UNBOUNDED): Middleware {
  // Its types take limits as strings only; raw-body reads a number as bytes.
  const parser = bodyParser({ ...parserOptions(limitBytes), jsonLimit: limitBytes, enableTypes: ['json'] } as unknown as bodyParser.Options);
  const parse = async (ctx: Context): Promise<Parsed> => {
    await parser(ctx, noop);
    return { parsed: ctx.request.body, raw: ctx.request.rawBody };
  };
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!ctx.is('application/json')) {
      throw new AppError(415, `request body must be JSON sent with Content-Type: application/json (got ${ctx.get('Content-Type') || 'none'})`);
    }
    const encoding = ctx.get('Content-Encoding');
    if (encoding !== '' && encoding.toLowerCase() !== 'identity') {
      throw new AppError(415, `unsupported Content-Encoding ${JSON.stringify(encoding)}; send the body uncompressed`);
    }
    ctx.request.body = await guarded(ctx.req, limitBytes, budget, () => parse(ctx));
    await next();
  };
}

/**
 * Reads and parses the JSON body of `req` (its type already checked) through co-body, the parser
 * under koa-bodyparser: 413 past the limit, 503 when the bodies buffered across requests would exceed
 * `budget`, 400 if malformed or not UTF-8.
 */
export function readJson(req: IncomingMessage, limitBytes: number, budget: BodyBudget = UNBOUNDED): Promise<unknown> {
  const opts = parserOptions(limitBytes);
  return guarded(req, limitBytes, budget, () => coBody.json(req, opts) as Promise<Parsed>);
}

interface Parsed {
  readonly parsed: unknown;
  readonly raw: string;
}

/**
 * Runs `parse` (which must attach its stream listeners synchronously, as raw-body does) under a
 * `data` listener attached just before it: the listener charges the body's bytes to the budget and
 * checks their UTF-8, which the parser's decoder would silently turn into U+FFFD.
 */
async function guarded(req: IncomingMessage, limitBytes: number, budget: BodyBudget, parse: () => Promise<Parsed>): Promise<unknown> {
  const read = new BodyRead(req, limitBytes, budget);
  try {
    const { parsed, raw } = await parse();
    read.check(raw);
    if (raw === '') noJsonText();
    return parsed;
  } catch (err) {
    req.resume(); // discard the rest so the error can still be answered
    throw read.explain(err);
  } finally {
    read.release();
  }
}

/** One body's reservation in the budget and the UTF-8 check of its bytes, as they stream. */
class BodyRead {
  private held = 0;
  private size = 0;
  private readonly utf8 = new Utf8Stream();
  private streamError: Error | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limitBytes: number,
    private readonly budget: BodyBudget,
  ) {
    const declared = Number(req.headers['content-length'] ?? 0);
    // A declared length is reserved whole before a byte is read: what cannot fit is refused at once.
    // One over the limit is left to the parser's 413.
    if (declared > 0 && declared <= limitBytes) {
      if (!budget.grow(0, declared)) throw overBudget(budget);
      this.held = declared;
    }
    req.on('data', this.onData);
    req.on('error', this.onError);
    // raw-body's promise never settles when a request closes without 'end', 'error' or 'aborted'.
    req.once('close', this.release);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.size += chunk.length;
    if (this.size > this.limitBytes) return; // the parser answers 413
    if (this.size > this.held) {
      if (!this.budget.grow(this.held, this.size)) {
        // The parser listens for 'error' on the request and rejects with what it receives.
        this.req.off('data', this.onData);
        if (this.req.listenerCount('error') > 1) this.req.emit('error', overBudget(this.budget));
        return;
      }
      this.held = this.size;
    }
    this.utf8.push(chunk);
  };

  private readonly onError = (err: Error): void => {
    this.streamError = err;
  };

  /** Throws the 400 of a body that had invalid UTF-8, naming the field it was in (from `raw`, as decoded). */
  check(raw: string): void {
    const at = this.utf8.end();
    if (at >= 0) throw invalidUtf8(raw, at, this.utf8.bom);
  }

  /** What a failure to read or parse answers: an invalid byte first (it may be why the text is not JSON). */
  explain(err: unknown): unknown {
    const at = this.utf8.end();
    if (at >= 0 && err instanceof SyntaxError) return invalidUtf8(String((err as { body?: unknown }).body ?? ''), at, this.utf8.bom);
    // How a connection closed mid-body (by the client, or by REQUEST_TIMEOUT) ends.
    const aborted = err === this.streamError || (err as { type?: unknown }).type === 'request.aborted';
    if (aborted && !(err instanceof AppError)) return Object.assign(new AppError(400, 'request aborted while reading its body'), { cause: err });
    return err;
  }

  readonly release = (): void => {
    this.req.off('data', this.onData);
    this.req.off('error', this.onError);
    this.req.off('close', this.release);
    this.budget.release(this.held);
    this.held = 0;
  };
}

/**
 * co-body answers an empty body with '' where JSON.parse (and so the API) sees no JSON text: its
 * error, marked as co-body marks the parse errors it raises.
 */
function noJsonText(): never {
  try {
    JSON.parse('');
  } catch (err) {
    throw Object.assign(err as SyntaxError, { status: 400, body: '' });
  }
  throw new Error('unreachable: an empty text parsed as JSON');
}

/** The 503 of a body the budget cannot hold; the connection is closed so its sender stops sending. */
function overBudget(budget: BodyBudget): AppError {
  return new AppError(503, `the server is buffering as many request bodies as it may (BODY_BUFFER_BUDGET, ${budget.limitBytes} bytes); retry shortly`, {
    'Retry-After': '1',
    Connection: 'close',
  });
}

async function noop(): Promise<void> {}
