// The floor for `keybox run`: the least any Node script on the same runtime can do to fetch a folder's secrets and
// exec a command with them. One GET over node:http, JSON.parse, then process.execve. No argument parsing, no
// config lookup, no checks.
//   KEYBOX_ADDR=… KEYBOX_TOKEN=… node floor-run.js '/api/v1/secrets?project=p&env=e&path=/f' /abs/cmd args…
// node:http comes from process.getBuiltinModule: an ES-module import of it costs ~30 ms on Node 24 (importing
// node:process and node:buffer costs nothing measurable).
import { Buffer } from 'node:buffer';
import process from 'node:process';

const http = process.getBuiltinModule('node:http');
const [query, file, ...args] = process.argv.slice(2);

const req = http.get(`${process.env.KEYBOX_ADDR}${query}`, {
  headers: { authorization: `Bearer ${process.env.KEYBOX_TOKEN}` },
});
req.on('response', (res) => {
  const chunks = [];
  res.on('data', (chunk) => chunks.push(chunk));
  res.on('end', () => {
    if (res.statusCode !== 200) {
      process.stderr.write(`floor-run: HTTP ${res.statusCode}\n`);
      process.exit(125);
    }
    const env = { ...process.env };
    for (const folder of JSON.parse(Buffer.concat(chunks).toString('utf8')).folders) {
      for (const secret of folder.secrets) env[secret.name] = secret.value;
    }
    process.execve(file, [file, ...args], env);
  });
});
req.on('error', (error) => {
  process.stderr.write(`floor-run: ${error.message}\n`);
  process.exit(125);
});
