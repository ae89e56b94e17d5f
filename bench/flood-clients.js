// The client side of the progress flood, in its own process: N SSE connections that count the frames
// they get and keep the newest snapshot, as the browser feed would.
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { createParser } from 'eventsource-parser';
import { percentile } from './lib.js';

const clients = [];

function connect(port, path) {
  return new Promise((resolve, reject) => {
    const state = { frames: 0, version: 0, state: null };
    clients.push(state);
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { accept: 'text/event-stream' } });
    request.on('response', (response) => {
      const decoder = new StringDecoder('utf8');
      const parser = createParser({
        onEvent(event) {
          if (event.event === 'ready') resolve();
          if (event.event !== 'job-update') return;
          state.frames++;
          const job = JSON.parse(event.data);
          if (job.version > state.version) {
            state.version = job.version;
            state.state = job.state;
          }
        },
      });
      response.on('data', (chunk) => parser.feed(decoder.write(chunk)));
      response.on('close', () => {
        state.closed = true;
      });
    });
    request.on('error', reject);
  });
}

process.on('message', async (message) => {
  if (message.type === 'connect') {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(200, message.connections) }, async () => {
        while (next < message.connections) {
          next++;
          await connect(message.port, message.path);
        }
      }),
    );
    process.send({ type: 'connected' });
  } else if (message.type === 'report') {
    const frames = clients.map((client) => client.frames);
    process.send({
      type: 'report',
      final: clients.filter((client) => client.version === message.version && client.state === message.state).length,
      closed: clients.filter((client) => client.closed).length,
      framesMin: Math.min(...frames),
      framesMedian: percentile(frames, 50),
      framesMax: Math.max(...frames),
    });
  }
});
