import { createServer, STATUS_CODES, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { isClientGone } from './errors.js';

/** How long and how many: the bounds on slow and numerous clients. */
export interface ServerLimits {
  /** REQUEST_TIMEOUT: the whole request, headers and body, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** HEADERS_TIMEOUT: the request line and headers must arrive within this (at most requestTimeoutMs). */
  readonly headersTimeoutMs: number;
  /** MAX_CONNECTIONS: connections open at once; one more is answered 503 and closed. */
  readonly maxConnections: number;
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs?: number;
}

/** Connections open now, and refused since start because MAX_CONNECTIONS were open (read by /metrics). */
export interface ConnectionLoad {
  open: number;
  refused: number;
}

/** How long a refused connection may linger for its answer to reach the client before it is destroyed. */
export const REFUSED_LINGER_MS = 1000;

/**
 * The node:http server with the bounds a hostile or merely slow client needs: Node's request and
 * headers timeouts, a cap on open connections, and JSON answers to protocol errors (bad
 * Content-Length, bad chunking, oversized headers, a timeout) in the one error shape, where Node
 * would send an empty 400/408/431.
 */
export function createHttpServer(listener: RequestListener, limits: ServerLimits, logger?: Logger, load: ConnectionLoad = { open: 0, refused: 0 }): Server {
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the timeouts every 30 s by default: a 10 s timeout could take 40 s to fire.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
      keepAliveTimeout: limits.keepAliveTimeoutMs ?? 65_000,
    },
    listener,
  );
  capConnections(server, limits.maxConnections, load);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, limits, logger));
  return server;
}

/**
 * Node's own `maxConnections` drops an extra connection without a word; this answers it with a JSON
 * 503 instead. Node's HTTP handling is itself a 'connection' listener, so it is taken off and called
 * only for the connections within the cap (a refused socket never reaches the HTTP parser).
 */
function capConnections(server: Server, max: number, load: ConnectionLoad): void {
  const http = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  // Refused connections linger a moment for their answer; past as many as the cap, a flood of them is
  // dropped unanswered, so that open sockets (and descriptors) stay within twice MAX_CONNECTIONS.
  let lingering = 0;
  server.on('connection', (socket: Socket) => {
    if (load.open >= max) {
      load.refused++;
      if (lingering >= max) {
        socket.destroy();
        return;
      }
      lingering++;
      socket.once('close', () => lingering--);
      refuse(socket, 503, `the server has ${max} connections open, the most MAX_CONNECTIONS allows; retry shortly`, { 'Retry-After': '1' });
      return;
    }
    load.open++;
    socket.once('close', () => load.open--);
    for (const l of http) l.call(server, socket);
  });
}

/** Writes a whole JSON error response on a raw socket and closes it. */
function refuse(socket: Socket, status: number, message: string, headers: Record<string, string> = {}): void {
  socket.on('error', noop);
  if (socket.writable) {
    const body = JSON.stringify({ error: message, code: status });
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      'Connection: close',
      '',
      '',
    ];
    socket.end(lines.join('\r\n') + body);
  }
  socket.resume(); // read and drop whatever the client still sends, so the answer is not reset away
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}

function noop(): void {}

/** The answer to a request Node's parser or timeouts rejected before (or while) the app saw it. */
export function clientErrorAnswer(err: NodeJS.ErrnoException, limits: Pick<ServerLimits, 'requestTimeoutMs' | 'headersTimeoutMs'>): { status: number; message: string } | undefined {
  if (isClientGone(err)) return undefined; // nobody to answer
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        message: `the request did not arrive in time: headers must arrive within ${limits.headersTimeoutMs} ms (HEADERS_TIMEOUT) and the whole request within ${limits.requestTimeoutMs} ms (REQUEST_TIMEOUT)`,
      };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: 'request headers are too large' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: 'chunk extensions are too large' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, message: 'invalid Content-Length header' };
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_STRICT':
      return { status: 400, message: 'malformed chunked request body' };
    default:
      return { status: 400, message: `malformed HTTP request${typeof err.code === 'string' && err.code.startsWith('HPE_') ? ` (${err.code.slice(4).toLowerCase().replaceAll('_', ' ')})` : ''}` };
  }
}

function answerClientError(err: NodeJS.ErrnoException, socket: Socket, limits: ServerLimits, logger?: Logger): void {
  const answer = clientErrorAnswer(err, limits);
  logger?.debug({ err, code: err.code }, 'client error');
  // A response already under way cannot be replaced by another: only close the connection.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (answer === undefined || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  refuse(socket, answer.status, answer.message);
}
