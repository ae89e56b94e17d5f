// One fan-out run: a server of one implementation, N SSE connections held by a client process, bursts
// of updates. Forked by fanout.js with `<impl> <connections> <bursts> <perBurst>`; answers over IPC.
import { fork } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createChannel, createSession } from 'better-sse';
import { createJobRegistry, createJobsEndpoint, encodeSseMessage, STREAM_HEADERS } from '../dist/index.js';
import { toNodeHandler } from '../dist/node.js';
import { jobSnapshot, now, ROOT } from './lib.js';

const [impl, connectionsText, burstsText, perBurstText] = process.argv.slice(2);
const connections = Number(connectionsText);
const bursts = Number(burstsText);
const perBurst = Number(perBurstText);

const gc = () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
};

/** Each implementation: a request handler, the stream path, and `send(seq, sentAt)` that broadcasts one update. */
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
  if (name === 'realtime-jobs') {
    const registry = await createJobRegistry({ onError: () => {} });
    const job = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' }, state: 'running' });
    const endpoint = createJobsEndpoint(registry, {
      allowAnonymous: true,
      maxStreamsPerPrincipal: 1_000_000,
      heartbeatMs: 3_600_000,
      // Every update is measured from update() to receipt, as the raw loop writes every one.
      throttleMs: 0,
    });
    const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
    return {
      path: `/jobs/events?job_id=${job.id}`,
      handler: (req, res) => void handle(req, res, req),
      send: (seq, sentAt) =>
        registry.update(job.id, { progress: (seq % 100) / 100, message: 'Transferring…', data: { seq, sentAt } }),
      open: () => endpoint.openStreams,
    };
  }
  if (name === 'raw') {
    // The limit: one frame encoded once, written to every response in a plain loop.
    const responses = new Set();
    let eventId = 0;
    let job = base;
    return {
      path: '/events',
      handler: (_req, res) => {
        res.writeHead(200, { ...STREAM_HEADERS, connection: 'keep-alive' });
        res.flushHeaders();
        res.write(encodeSseMessage({ retry: 3000 }));
        responses.add(res);
        res.on('close', () => responses.delete(res));
      },
      send: (seq, sentAt) => {
        job = jobSnapshot(job, { progress: (seq % 100) / 100, data: { seq, sentAt } });
        const frame = encodeSseMessage({ id: `e-${++eventId}`, event: 'job-update', data: JSON.stringify(job) });
        for (const res of responses) res.write(frame);
      },
      open: () => responses.size,
    };
  }
  if (name === 'better-sse') {
    const channel = createChannel();
    let eventId = 0;
    let job = base;
    return {
      path: '/events',
      handler: async (req, res) => {
        const session = await createSession(req, res, { keepAlive: null, retry: 3000 });
        channel.register(session);
      },
      send: (seq, sentAt) => {
        job = jobSnapshot(job, { progress: (seq % 100) / 100, data: { seq, sentAt } });
        channel.broadcast(job, 'job-update', { eventId: `e-${++eventId}` });
      },
      open: () => channel.sessionCount,
    };
  }
  throw new Error(`unknown implementation ${name}`);
}

const subject = await implementation(impl);
const server = http.createServer(subject.handler);
await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
const { port } = server.address();

gc();
const before = process.memoryUsage();
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

const connectStart = now();
await ask({ type: 'connect', port, path: subject.path, connections, bursts, perBurst }, 'connected');
const connectMs = now() - connectStart;
// Let every connection's setup finish before measuring what it costs to hold them.
await new Promise((resolve) => setTimeout(resolve, 500));
gc();
const held = process.memoryUsage();
const open = subject.open();

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const cpuStart = process.cpuUsage();
const burstStart = now();
for (let burst = 0; burst < bursts; burst++) {
  const done = ask({ type: 'await-burst', burst }, `burst-${burst}`);
  for (let i = 0; i < perBurst; i++) {
    const seq = burst * perBurst + i;
    subject.send(seq, now());
  }
  await done;
}
const burstMs = now() - burstStart;
const cpu = process.cpuUsage(cpuStart);
loop.disable();
const { latencies } = await ask({ type: 'report' }, 'report');
clients.kill();
server.closeAllConnections();
server.close();

process.send({
  impl,
  connections,
  open,
  connectMs,
  rssPerConnectionKB: (held.rss - before.rss) / connections / 1024,
  heapPerConnectionKB: (held.heapUsed - before.heapUsed) / connections / 1024,
  rssHeldMB: held.rss / 2 ** 20,
  cpuMs: (cpu.user + cpu.system) / 1000,
  burstMs,
  eventLoopP99Ms: loop.percentile(99) / 1e6,
  ...latencies,
});
process.exit(0);
