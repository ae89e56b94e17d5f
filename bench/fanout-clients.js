// The client side of a fan-out run, in its own process: holds N SSE connections over loopback, parses
// them with eventsource-parser, and measures each update's delay from the server's send timestamp.
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { createParser } from 'eventsource-parser';
import { now, percentile, round } from './lib.js';

const SEQ = /"seq":(\d+),"sentAt":([0-9.]+)/;
let counts;
let latencies;
let samples = 0;
let connections = 0;
/** seq → resolve, for `await-seq`. */
const waiting = new Map();

function received(seq, sentAt, at) {
  if (samples < latencies.length) latencies[samples++] = at - sentAt;
  if (++counts[seq] === connections) {
    waiting.get(seq)?.();
    waiting.delete(seq);
  }
}

function connect(port, path) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { accept: 'text/event-stream' } });
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`status ${response.statusCode}`));
        return;
      }
      const decoder = new StringDecoder('utf8');
      const parser = createParser({
        onEvent(event) {
          if (event.event !== 'job-update') return;
          const match = SEQ.exec(event.data);
          if (match) received(Number(match[1]), Number(match[2]), now());
        },
      });
      response.on('data', (chunk) => parser.feed(decoder.write(chunk)));
      response.once('data', () => resolve());
    });
    request.on('error', reject);
  });
}

process.on('message', async (message) => {
  try {
    if (message.type === 'init') {
      connections = message.connections;
      counts = new Uint32Array(message.updates);
      latencies = new Float64Array(message.connections * message.updates);
      process.send({ type: 'ready' });
    } else if (message.type === 'connect') {
      let next = 0;
      // Bounded concurrency: a burst of thousands of SYNs at once measures the kernel, not the server.
      await Promise.all(
        Array.from({ length: Math.min(200, connections) }, async () => {
          while (next < connections) {
            next++;
            await connect(message.port, message.path);
          }
        }),
      );
      process.send({ type: 'connected' });
    } else if (message.type === 'await-seq') {
      // Resolves once update `seq` has reached every connection (or after 60 s: the run says so).
      const { seq } = message;
      if (counts[seq] === connections) process.send({ type: 'seq' });
      else {
        const timer = setTimeout(() => {
          waiting.delete(seq);
          process.send({ type: 'seq', timedOut: true });
        }, 60_000);
        waiting.set(seq, () => {
          clearTimeout(timer);
          process.send({ type: 'seq' });
        });
      }
    } else if (message.type === 'report') {
      // The latencies since the last report: one phase's.
      const values = latencies.subarray(0, samples);
      process.send({
        type: 'report',
        latencies: {
          delivered: samples,
          p50Ms: round(percentile(values, 50), 3),
          p90Ms: round(percentile(values, 90), 3),
          p99Ms: round(percentile(values, 99), 3),
          maxMs: round(percentile(values, 100), 3),
        },
      });
      samples = 0;
    }
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) });
  }
});
