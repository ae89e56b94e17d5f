// Runs the test server as its own process, so a test can SIGKILL it mid-job and start it again on the
// same port and JSONL file. Bundled by `bundleCrashServer()`; prints `{"port":…}` once listening.
import { startTestServer } from './server.js';

const number = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
const server = await startTestServer({
  port: number('PORT') ?? 0,
  jsonlPath: process.env.JSONL_PATH,
  retryMs: number('RETRY_MS'),
  heartbeatMs: number('HEARTBEAT_MS'),
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
