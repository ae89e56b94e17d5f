// The client side of the many-jobs benchmark, in its own process: one SSE connection per path, each
// counting its frames and measuring each update's delay from the `sentAt` the server put in its data.
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { createParser } from 'eventsource-parser';
import { now, percentile, round } from './lib.js';

const SENT_AT = /"sentAt":([0-9.]+)/;
const clients = [];
let latencies = [];

function connect(port, path) {
  return new Promise((resolve, reject) => {
    const client = { frames: 0, closed: false };
    clients.push(client);
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { accept: 'text/event-stream' } });
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`${path}: status ${response.statusCode}`));
        return;
      }
      const decoder = new StringDecoder('utf8');
      const parser = createParser({
        onEvent(event) {
          if (event.event === 'ready') resolve();
          if (event.event !== 'job-update' || event.id === undefined) return;
          client.frames++;
          const match = SENT_AT.exec(event.data);
          if (match) latencies.push(now() - Number(match[1]));
        },
      });
      response.on('data', (chunk) => parser.feed(decoder.write(chunk)));
      response.on('close', () => {
        client.closed = true;
      });
    });
    request.on('error', reject);
  });
}

process.on('message', async (message) => {
  try {
    if (message.type === 'connect') {
      await Promise.all(message.paths.map((path) => connect(message.port, path)));
      process.send({ type: 'connected' });
    } else if (message.type === 'reset') {
      latencies = [];
      for (const client of clients) client.frames = 0;
      process.send({ type: 'reset' });
    } else if (message.type === 'report') {
      const frames = clients.map((client) => client.frames);
      process.send({
        type: 'report',
        frames: frames.reduce((sum, n) => sum + n, 0),
        framesPerStreamMedian: percentile(frames, 50),
        closed: clients.filter((client) => client.closed).length,
        p50Ms: round(percentile(latencies, 50), 2),
        p99Ms: round(percentile(latencies, 99), 2),
      });
    }
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) });
  }
});
