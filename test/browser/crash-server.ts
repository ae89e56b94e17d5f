// Runs the test server as its own process, so a test can SIGKILL it mid-job and start it again on the
// same port and JSONL file. Bundled by `bundleCrashServer()`; prints `{"port":…}` once listening.
import { startTestServer } from './server.js';

const server = await startTestServer({ port: Number(process.env.PORT ?? 0), jsonlPath: process.env.JSONL_PATH });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
