// The SSE clients of bench/redis.js, in their own process: connections to every instance, each one
// watching one job, parsed with eventsource-parser. Each update carries its writer's number and send
// time in the job's data; the delay to its receipt is kept apart for clients on the writer's instance
// (local) and on another one (remote: the cross-instance path).
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { createParser } from 'eventsource-parser';
import { now, percentile, round, schedstat } from './lib.js';

const SENT = /"w":(\d+),"seq":\d+,"sentAt":([0-9.]+)/;
/** Only updates sent in [from, to) are measured (the warm-up is not). */
let from = Number.POSITIVE_INFINITY;
let to = Number.POSITIVE_INFINITY;
const local = [];
const remote = [];
let closed = 0;
const loop = monitorEventLoopDelay({ resolution: 1 });
let cpu = null;
let sched = null;
let windowStart = 0;

function connect({ url, instance }) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, headers: { accept: 'text/event-stream' } });
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`${url}: status ${response.statusCode}`));
        return;
      }
      const decoder = new StringDecoder('utf8');
      const parser = createParser({
        onEvent(event) {
          if (event.event === 'ready') resolve();
          if (event.event !== 'job-update') return;
          const at = now();
          const match = SENT.exec(event.data);
          if (!match) return;
          const sentAt = Number(match[2]);
          if (sentAt < from || sentAt >= to) return;
          (Number(match[1]) === instance ? local : remote).push(at - sentAt);
        },
      });
      response.on('data', (chunk) => parser.feed(decoder.write(chunk)));
      response.on('close', () => closed++);
    });
    request.on('error', reject);
  });
}

function stats(values) {
  return {
    count: values.length,
    p50Ms: round(percentile(values, 50), 2),
    p90Ms: round(percentile(values, 90), 2),
    p99Ms: round(percentile(values, 99), 2),
    maxMs: round(percentile(values, 100), 2),
  };
}

const commands = {
  async connect({ targets }) {
    let next = 0;
    // Bounded concurrency: thousands of SYNs at once measure the kernel, not the server.
    await Promise.all(
      Array.from({ length: Math.min(200, targets.length) }, async () => {
        while (next < targets.length) await connect(targets[next++]);
      }),
    );
    return targets.length;
  },
  window(window) {
    ({ from, to } = window);
    local.length = 0;
    remote.length = 0;
    loop.reset();
    loop.enable();
    cpu = process.cpuUsage();
    sched = schedstat();
    windowStart = now();
    return true;
  },
  report() {
    loop.disable();
    const used = process.cpuUsage(cpu ?? undefined);
    const after = schedstat();
    return {
      local: stats(local),
      remote: stats(remote),
      all: stats([...local, ...remote]),
      closed,
      wallMs: round(now() - windowStart, 0),
      cpuMs: round((used.user + used.system) / 1000, 0),
      systemMs: round(used.system / 1000, 0),
      waitMs: sched && after ? round(after.waitMs - sched.waitMs, 0) : null,
      loopP99Ms: round(loop.percentile(99) / 1e6, 2),
    };
  },
};

process.on('message', async ({ seq, type, ...options }) => {
  try {
    process.send({ seq, value: await commands[type](options) });
  } catch (error) {
    process.send({ seq, error: String(error?.stack ?? error) });
  }
});
process.send({ ready: true });
