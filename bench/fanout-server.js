// One fan-out run: a server of one implementation (one mount, one set of options), N SSE connections
// held by a client process, then two phases on the same connections: updates spaced in time (as a
// job's progress arrives) and bursts of synchronous updates. Forked by fanout.js with one JSON
// argument; answers over IPC. The server's CPU is its own: the clients live in another process.
import { fork } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { createChannel, createSession } from 'better-sse';
import express from 'express';
import Fastify from 'fastify';
import { jobsRouter } from '../dist/express.js';
import { jobsPlugin } from '../dist/fastify.js';
import { createJobRegistry, createJobsEndpoint, encodeSseMessage, STREAM_HEADERS } from '../dist/index.js';
import { toNodeHandler } from '../dist/node.js';
import { jobSnapshot, now, ROOT } from './lib.js';

/** `{ impl, options, connections, spaced: { count, gapMs }, bursts: { count, per } }` */
const config = JSON.parse(process.argv[2]);
const { impl, connections, spaced, bursts } = config;

const gc = () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Our endpoint's options: `default` is what a user gets (throttle 50 ms), `tuned` turns the throttle off. */
function endpointOptions() {
  return {
    allowAnonymous: true,
    maxStreamsPerPrincipal: 1_000_000,
    // Out of the way of a 2-second measurement either way; it is one shared timer for all streams.
    heartbeatMs: 3_600_000,
    ...(config.options === 'tuned' ? { throttleMs: 0 } : {}),
  };
}

/**
 * Each implementation: `listen()` → port, the stream path, `send(seq, sentAt)` that broadcasts one
 * update, `open()` the streams it holds, `close()`.
 */
async function implementation(name) {
  const base = {
    id: 'V1StGXR8_Z5jdHi6B-myT',
    category: 'sync-push',
    target: { peer: 'peer-a' },
    scope: 'admin',
    state: 'running',
    phase: 'transferring',
    progress: 0,
    message: 'Transferring…',
    data: {},
    queuedAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    finishedAt: null,
    updatedAt: new Date().toISOString(),
    version: 2,
  };
  const onPlainHttp = (handler) => {
    const server = http.createServer(handler);
    return {
      listen: () =>
        new Promise((resolve) =>
          server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve(server.address().port)),
        ),
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  };

  /** The raw loop: one frame encoded once, written to every open response. */
  const rawLoop = () => {
    const responses = new Set();
    let eventId = 0;
    let job = base;
    return {
      accept: (_req, res) => {
        res.writeHead(200, { ...STREAM_HEADERS, connection: 'keep-alive' });
        res.flushHeaders();
        res.write(encodeSseMessage({ retry: 3000 }));
        responses.add(res);
        res.on('close', () => responses.delete(res));
      },
      path: '/events',
      send: (seq, sentAt) => {
        job = jobSnapshot(job, { progress: (seq % 100) / 100, data: { seq, sentAt } });
        const frame = encodeSseMessage({ id: `e-${++eventId}`, event: 'job-update', data: JSON.stringify(job) });
        for (const res of responses) res.write(frame);
      },
      open: () => responses.size,
    };
  };

  if (name === 'raw') {
    // The limit: the raw loop on plain node:http.
    const { accept, ...loop } = rawLoop();
    return { ...onPlainHttp(accept), ...loop };
  }
  if (name === 'express-raw') {
    // Context, not a baseline of the goals: the raw loop behind an Express app (`--impls express-raw`),
    // what Express itself costs per stream before any route runs.
    const { accept, ...loop } = rawLoop();
    const app = express();
    app.get('/events', accept);
    return { ...onPlainHttp(app), ...loop };
  }
  if (name === 'better-sse') {
    const channel = createChannel();
    let eventId = 0;
    let job = base;
    return {
      ...onPlainHttp(async (req, res) => {
        const session = await createSession(req, res, { keepAlive: null, retry: 3000 });
        channel.register(session);
      }),
      path: '/events',
      send: (seq, sentAt) => {
        job = jobSnapshot(job, { progress: (seq % 100) / 100, data: { seq, sentAt } });
        channel.broadcast(job, 'job-update', { eventId: `e-${++eventId}` });
      },
      open: () => channel.sessionCount,
    };
  }

  const registry = await createJobRegistry({ onError: () => {} });
  const job = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' }, state: 'running' });
  const ours = {
    path: `/jobs/events?job_id=${job.id}`,
    send: (seq, sentAt) =>
      registry.update(job.id, { progress: (seq % 100) / 100, message: 'Transferring…', data: { seq, sentAt } }),
  };
  if (name === 'node') {
    // The bare Node bridge both adapters build on.
    const endpoint = createJobsEndpoint(registry, endpointOptions());
    const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
    return { ...ours, ...onPlainHttp((req, res) => void handle(req, res, req)), open: () => endpoint.openStreams };
  }
  if (name === 'express') {
    // As the README mounts it: an Express 5 app, the router under a path.
    const app = express();
    const router = jobsRouter(registry, endpointOptions());
    app.use('/jobs', router);
    return { ...ours, ...onPlainHttp(app), open: () => router.openStreams };
  }
  if (name === 'fastify') {
    const app = Fastify({ logger: false });
    await app.register(jobsPlugin, { registry, prefix: '/jobs', ...endpointOptions() });
    return {
      ...ours,
      listen: async () => {
        await app.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
        return app.server.address().port;
      },
      open: () => app.realtimeJobs.openStreams,
      close: () => {
        app.server.closeAllConnections();
        void app.close();
      },
    };
  }
  throw new Error(`unknown implementation ${name}`);
}

const subject = await implementation(impl);
const port = await subject.listen();

const clients = fork(join(ROOT, 'bench', 'fanout-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ask = (message, answer) =>
  new Promise((resolve, reject) => {
    const onMessage = (reply) => {
      if (reply.type === answer) {
        clients.off('message', onMessage);
        resolve(reply);
      } else if (reply.type === 'error') reject(new Error(reply.message));
    };
    clients.on('message', onMessage);
    clients.send(message);
  });
const cpuMs = (since) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

const total = spaced.count + bursts.count * bursts.per;
await ask({ type: 'init', connections, updates: total }, 'ready');

// Accepting: from the first connection to the last one's first frame, plus the time for every
// connection's setup to settle; the memory it holds, measured after a full GC the same way for all.
gc();
const before = process.memoryUsage();
const acceptCpu = process.cpuUsage();
const connectStart = now();
await ask({ type: 'connect', port, path: subject.path }, 'connected');
const connectMs = now() - connectStart;
await sleep(500);
const acceptCpuMs = cpuMs(acceptCpu);
gc();
const held = process.memoryUsage();
const open = subject.open();
if (process.env.BENCH_HEAP_SNAPSHOT) {
  // `BENCH_HEAP_SNAPSHOT=<dir>`: what the held streams are made of (bench/heap-summary.js reads it).
  const { writeHeapSnapshot } = await import('node:v8');
  writeHeapSnapshot(
    join(process.env.BENCH_HEAP_SNAPSHOT, `${impl}-${config.options ?? 'baseline'}-${connections}.heapsnapshot`),
  );
}

// Spaced: one update every `gapMs`, as progress arrives from a job's work. Then wait until the last
// one has reached every connection (a throttle may hold it back: that shows in the latency).
let seq = 0;
const spacedCpu = process.cpuUsage();
for (let i = 0; i < spaced.count; i++) {
  const due = now() + spaced.gapMs;
  subject.send(seq++, now());
  const left = due - now();
  if (left > 0) await sleep(left);
}
const spacedDone = await ask({ type: 'await-seq', seq: seq - 1 }, 'seq');
const spacedCpuMs = cpuMs(spacedCpu);
const spacedLatency = (await ask({ type: 'report' }, 'report')).latencies;

// Bursts: `per` synchronous updates, the next burst when the last one has reached every connection.
const burstCpu = process.cpuUsage();
let burstTimedOut = false;
for (let burst = 0; burst < bursts.count; burst++) {
  for (let i = 0; i < bursts.per; i++) subject.send(seq++, now());
  if ((await ask({ type: 'await-seq', seq: seq - 1 }, 'seq')).timedOut) burstTimedOut = true;
}
const burstCpuMs = cpuMs(burstCpu);
const burstLatency = (await ask({ type: 'report' }, 'report')).latencies;

clients.kill();
subject.close();

process.send({
  impl,
  options: config.options ?? null,
  connections,
  open,
  connectMs,
  acceptCpuMs,
  rssPerConnectionKB: (held.rss - before.rss) / connections / 1024,
  heapPerConnectionKB: (held.heapUsed + held.external - before.heapUsed - before.external) / connections / 1024,
  spaced: { updates: spaced.count, cpuMs: spacedCpuMs, timedOut: Boolean(spacedDone.timedOut), ...spacedLatency },
  bursts: { updates: bursts.count * bursts.per, cpuMs: burstCpuMs, timedOut: burstTimedOut, ...burstLatency },
});
process.exit(0);
