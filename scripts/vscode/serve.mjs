// npm run serve: the extension (this repository, as built in dist/) installed in code-server on
// 127.0.0.1, with examples/ open, for trying it in a browser. PORT (default 8080) picks the port;
// HOST the address (default 127.0.0.1: code-server runs with --auth none, so keep it local).
// Runs until Ctrl+C; settings and state live in a temporary folder removed on exit.
import { join } from 'node:path';
import cs from './codeServer.cjs';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`PORT=${process.env.PORT} is not a port number`);
  process.exit(2);
}
cs.ensureCodeServer();
let server;
try {
  server = await cs.startCodeServer({
    host,
    port,
    workspace: join(cs.REPO, 'examples'),
    extension: process.env.SPARSITY_LENS_SERVE_INSTALL === 'vsix' ? 'vsix' : 'symlink',
    logName: 'code-server-serve',
  });
} catch (e) {
  console.error(`${e.message}\n(is port ${port} in use? PORT=<port> npm run serve picks another)`);
  process.exit(1);
}
console.log(`Sparsity Lens in code-server ${cs.CODE_SERVER_VERSION}: ${server.folderUrl()}`);
console.log(`log: ${server.logFile}`);
console.log('Ctrl+C stops it.');
// Ctrl+C (SIGINT), SIGTERM: codeServer.cjs kills the server's process group and removes its
// temporary folder.
const code = await new Promise((resolve) => {
  const poll = setInterval(() => {
    if (server.exited) {
      clearInterval(poll);
      resolve(server.exitCode ?? 1);
    }
  }, 500);
});
console.error(`code-server exited (${code}); see ${server.logFile}`);
process.exit(1);
