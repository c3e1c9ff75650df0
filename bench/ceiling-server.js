// The ceiling: a bare node:http server on the same runtime that answers every request with one static body.
//   node ceiling-server.js BODY_FILE [PORT]   → prints `listening on http://127.0.0.1:PORT` on stderr
// Builtins come from process.getBuiltinModule, not ES imports, so that its start-up (measured in the growth part)
// is a bare Node start: an ES-module import of node:http alone costs ~30 ms on Node 24.
import process from 'node:process';

const http = process.getBuiltinModule('node:http');
const fs = process.getBuiltinModule('node:fs');

const body = fs.readFileSync(process.argv[2]);
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  process.stderr.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
