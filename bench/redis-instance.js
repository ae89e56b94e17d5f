// One app instance of bench/redis.js in its own process: a registry on the memory or the Redis store,
// the job routes on a node:http server, and updates on command. Driven over IPC by redis.js; its SSE
// clients are another process (redis-clients.js). Environment: STORE (memory | redis), REDIS_URL,
// PREFIX, INDEX (this instance's number), THROTTLE_MS (unset: the endpoint's default).
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createJobRegistry, createJobsEndpoint } from '../dist/index.js';
import { toNodeHandler } from '../dist/node.js';
import { redisStore } from '../dist/redis.js';
import { now, round, schedstat } from './lib.js';

const { STORE, REDIS_URL, PREFIX, INDEX, THROTTLE_MS } = process.env;
const w = Number(INDEX);
const errors = [];
const store = STORE === 'redis' ? redisStore({ url: REDIS_URL, prefix: PREFIX, instanceId: `bench-${w}` }) : undefined;
const registry = await createJobRegistry({ store, onError: (error) => errors.push(error.message) });
const endpoint = createJobsEndpoint(registry, {
  allowAnonymous: true,
  // Every connection of the client process is the same anonymous principal.
  maxStreamsPerPrincipal: 1_000_000,
  ...(THROTTLE_MS === undefined ? {} : { throttleMs: Number(THROTTLE_MS) }),
});
const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
const server = http.createServer((req, res) => void handle(req, res, req));
await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));

const sleepUntil = (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - now())));
const message = 'Copying files to peer-a (a realistic progress message)…';

/** CPU, time spent waiting for a CPU, and event-loop delay of this process while `work` runs. */
async function measured(work) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const cpu = process.cpuUsage();
  const sched = schedstat();
  const start = now();
  loop.enable();
  const result = await work();
  const wallMs = now() - start;
  loop.disable();
  const used = process.cpuUsage(cpu);
  const after = schedstat();
  return {
    ...result,
    wallMs: round(wallMs, 0),
    cpuMs: round((used.user + used.system) / 1000, 0),
    systemMs: round(used.system / 1000, 0),
    waitMs: sched && after ? round(after.waitMs - sched.waitMs, 0) : null,
    loopP99Ms: round(loop.percentile(99) / 1e6, 2),
    loopMaxMs: round(loop.max / 1e6, 2),
  };
}

/**
 * `rate` updates a second from `startAt` for `seconds`, spread evenly (one every 1000/rate ms, jobs in
 * turn), each carrying its send time. Resolves once every update has resolved; `measured` counts those
 * sent in [from, to), the window the clients measure.
 */
function pace({ ids, rate, startAt, from, to, seconds }) {
  const total = Math.floor(rate * seconds);
  const inFlight = new Set();
  let sent = 0;
  let counted = 0;
  let failed = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - startAt) * rate) / 1000) + 1);
      while (sent < due) {
        const seq = sent++;
        const sentAt = now();
        if (sentAt >= from && sentAt < to) counted++;
        const update = registry
          .update(ids[seq % ids.length], { progress: (seq % 100) / 100, message, data: { w, seq, sentAt } })
          .catch(() => failed++)
          .finally(() => inFlight.delete(update));
        inFlight.add(update);
      }
      // Wakes when the next update is due, as a job's own progress callbacks would.
      if (sent < total) setTimeout(tick, startAt + (sent * 1000) / rate - now());
      else Promise.all(inFlight).then(() => resolve({ sent, measured: counted, failed }));
    };
    sleepUntil(startAt).then(tick);
  });
}

/**
 * Every job in a loop of `await update()` (as `await ctx.progress()` in a job's work) from `startAt`;
 * updates done in [from, from + seconds) are counted (the first ones warm up).
 */
async function closedLoop({ ids, startAt, from, seconds }) {
  await sleepUntil(startAt);
  const end = from + seconds * 1000;
  let updates = 0;
  let total = 0;
  let failed = 0;
  await Promise.all(
    ids.map(async (id) => {
      for (let i = 0; now() < end; i++) {
        try {
          await registry.update(id, { progress: (i % 100) / 100, message, data: { w, i } });
          total++;
          if (now() >= from) updates++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { updates, total, failed, elapsedMs: now() - from };
}

const commands = {
  async create({ count }) {
    const ids = [];
    for (let i = 0; i < count; i++) {
      const job = await registry.enqueue({
        category: 'bench',
        target: { by: `i${w}`, n: String(i) },
        state: 'running',
      });
      ids.push(job.id);
    }
    return { ids, url: `http://127.0.0.1:${server.address().port}/jobs` };
  },
  has: ({ ids }) => ids.every((id) => registry.get(id) !== undefined),
  pace: (options) => measured(() => pace(options)),
  closedLoop: (options) => measured(() => closedLoop(options)),
  streams: () => endpoint.openStreams,
  errors: () => errors,
  async close() {
    endpoint.closeStreams();
    server.closeAllConnections();
    server.close();
    await registry.close();
    // A clean exit, so that `--cpu-prof` writes its profile.
    setImmediate(() => process.exit(0));
    return true;
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
