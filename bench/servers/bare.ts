import { createServer } from 'node:http';

/**
 * Baseline: the platform ceiling. A bare `node:http` server that reads the body, JSON.parses it and
 * answers 202, with no routing, validation or counting; GETs answer a fixed stats-shaped JSON.
 */
const ACCEPTED = Buffer.from('{"accepted":true}');
const STATS = Buffer.from('{"campaign_id":"x","last_hour":0,"last_day":0,"total":0}');
const BAD = Buffer.from('{"error":"request body is not valid JSON","code":400}');

function send(res: import('node:http').ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    send(res, 200, STATS);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      JSON.parse((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString());
    } catch {
      send(res, 400, BAD);
      return;
    }
    send(res, 202, ACCEPTED);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
