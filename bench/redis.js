// Benchmark 5, several instances on Redis: instances in separate processes sharing one Redis store,
// their SSE clients in another process, against the memory store on one instance in the same run.
//   1. delivery latency: 1,000 updates/s spread over 100 jobs, from update() on one instance to SSE
//      clients on the others (3 instances × 1,000 streams); the memory store on one instance × 1,000
//      streams is the baseline; default endpoint (throttle on), then throttleMs 0; two context rows:
//      the memory store serving the Redis rows' 3,000 streams from one process, and the Redis rows
//      with one stream per job per instance (the cross-instance path under a light fan-out);
//   2. updates/s: every job in a loop of `await update()`, one instance and three at once, memory beside;
//   3. Redis commands per update (INFO commandstats before and after each run).
// Redis: a private redis-server on a free port (nothing else counts in its commandstats), or REDIS_URL.
import { fork, spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { cpuPressure, machine, now, printTable, QUICK, ROOT, ratio, round, writeResults } from './lib.js';

const INSTANCES = 3;
/** SSE streams per instance, each watching one job: STREAMS / JOBS per job on every instance. */
const STREAMS = QUICK ? 200 : 1000;
/** Updates a second, all writers together, spread evenly over the second. */
const RATE = 1000;
/** Running jobs, shared out among the instances that write them (each updates its own, in turn). */
const JOBS = 100;
const WARMUP_S = 1;
const MEASURE_S = QUICK ? 2 : 6;
/** Jobs per instance in the throughput runs, each in its own loop of `await update()`. */
const LOOP_JOBS = 100;
const LOOP_S = QUICK ? 1 : 3;
const LOOP_WARMUP_S = 0.5;
const GOAL_P99_MS = 50;
/** The latency runs, in this order. `role`: the baseline, a row the goal applies to, or context. */
const LATENCY_RUNS = [
  { store: 'memory', instances: 1, streams: STREAMS, throttleMs: null, role: 'baseline' },
  { store: 'redis', instances: INSTANCES, streams: STREAMS, throttleMs: null, role: 'goal' },
  { store: 'memory', instances: 1, streams: STREAMS, throttleMs: 0, role: 'baseline' },
  { store: 'redis', instances: INSTANCES, streams: STREAMS, throttleMs: 0, role: 'goal' },
  // The frames of the Redis rows from one process: what this machine's cores do with them alone.
  { store: 'memory', instances: 1, streams: INSTANCES * STREAMS, throttleMs: null, role: 'context' },
  // The cross-instance path with one stream per job per instance: Redis without the fan-out's load.
  { store: 'redis', instances: INSTANCES, streams: JOBS, throttleMs: null, role: 'context' },
];
/** `BENCH_CPU_PROF=<dir>`: instances write a CPU profile there (`--cpu-prof`). */
const PROFILE = process.env.BENCH_CPU_PROF;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (n) => Array.from({ length: n }, (_, i) => i);

/** A forked bench process answering `ask(type, options)` over IPC once it said it is ready. */
async function startChild(file, env = {}, execArgv = []) {
  const child = fork(join(ROOT, 'bench', file), [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let seq = 0;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.ready) resolve();
      const waiter = pending.get(message.seq);
      if (!waiter) return;
      pending.delete(message.seq);
      if (message.error) waiter.reject(new Error(`${file}: ${message.error}`));
      else waiter.resolve(message.value);
    });
    child.once('exit', (code) => {
      const error = new Error(`${file} exited (${code})`);
      reject(error);
      for (const waiter of pending.values()) waiter.reject(error);
    });
  });
  const ask = (type, options = {}) =>
    new Promise((resolve, reject) => {
      pending.set(++seq, { resolve, reject });
      child.send({ seq, type, ...options });
    });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      if (file === 'redis-instance.js') await Promise.race([ask('close').catch(() => {}), sleep(3000)]);
      await Promise.race([exited, sleep(3000)]);
      child.kill('SIGKILL');
    }
    await exited;
  };
  return { ask, stop };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A redis-server of this run's own, keeping nothing on disk; or the one REDIS_URL names. */
async function openRedis() {
  if (process.env.REDIS_URL) {
    console.log(`redis: ${process.env.REDIS_URL} (shared: its commandstats count every client of it)`);
    return { url: process.env.REDIS_URL, shared: true, stop: async () => {} };
  }
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const server = spawn('redis-server', args, { stdio: 'ignore' });
  await new Promise((resolve, reject) => {
    server.once('spawn', resolve);
    server.once('error', reject);
  });
  const url = `redis://127.0.0.1:${port}`;
  let version;
  for (const deadline = now() + 5000; !version; ) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? '?';
    } catch (error) {
      if (now() > deadline) throw new Error(`the private redis-server never answered: ${error}`);
      await sleep(20);
    } finally {
      probe.disconnect();
    }
  }
  console.log(`redis: a private redis-server ${version} on port ${port}`);
  const exited = new Promise((resolve) => server.once('exit', resolve));
  return {
    url,
    shared: false,
    version,
    stop: async () => {
      server.kill('SIGKILL');
      await exited;
    },
  };
}

/** Calls per command (commands run by scripts included) and Redis's CPU, from INFO. */
async function redisCounters(redis) {
  const [commandstats, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  const calls = {};
  for (const [, name, count] of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[name] = Number(count);
  const seconds = (name) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return { calls, cpuMs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000 };
}

/** What Redis did for `updates` updates between two counters, with `instances` reading. */
function commandsPerUpdate(before, after, updates, instances) {
  const delta = {};
  for (const [name, count] of Object.entries(after.calls)) {
    const n = count - (before.calls[name] ?? 0);
    if (n > 0 && name !== 'info') delta[name] = n;
  }
  const scripts = (delta.evalsha ?? 0) + (delta.eval ?? 0);
  const reads = delta.xread ?? 0;
  const inside = Object.values(delta).reduce((sum, n) => sum + n, 0) - scripts - reads;
  return {
    updates,
    scriptsPerUpdate: round(scripts / updates, 3),
    commandsInScriptsPerUpdate: round(inside / updates, 2),
    xreadPerUpdatePerInstance: round(reads / updates / instances, 3),
    eventsPerXread: round((updates * instances) / reads, 1),
    redisCpuUsPerUpdate: round(((after.cpuMs - before.cpuMs) * 1000) / updates, 1),
    calls: delta,
  };
}

/**
 * Over a paced run, as % of one core: each process's CPU and the part of it in the kernel (loopback
 * TCP), the time each was ready to run but waited for a CPU, and the share of the run during which
 * some task on the machine waited for one (Linux PSI: others' work included).
 */
function cpuFigures(paced, report, pressure, before, after) {
  const percent = (ms, wallMs) => (ms === null ? null : round((100 * ms) / wallMs, 0));
  const wallMs = Math.max(...paced.map((p) => p.wallMs));
  return {
    instances: paced.map((p) => percent(p.cpuMs, p.wallMs)),
    instancesKernel: paced.map((p) => percent(p.systemMs, p.wallMs)),
    instancesWaiting: paced.map((p) => percent(p.waitMs, p.wallMs)),
    clients: percent(report.cpuMs, report.wallMs),
    clientsKernel: percent(report.systemMs, report.wallMs),
    clientsWaiting: percent(report.waitMs, report.wallMs),
    redis: after ? percent(after.cpuMs - before.cpuMs, wallMs) : null,
    machinePressure: pressure === null ? null : percent((cpuPressure() - pressure) / 1000, wallMs),
  };
}

async function dropPrefix(redis, prefix) {
  const keys = await redis.keys(`{${prefix}}:*`);
  if (keys.length > 0) await redis.del(...keys);
}

let runs = 0;
/** `n` instances on `kind`, given `body(instances)` to run, then stopped and their keys deleted. */
async function withInstances(kind, n, extraEnv, body) {
  const prefix = `rj-bench-${process.pid}-${Date.now().toString(36)}-${runs++}`;
  const execArgv = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [];
  const instances = await Promise.all(
    range(n).map((i) =>
      startChild(
        'redis-instance.js',
        { STORE: kind, REDIS_URL: redisServer.url, PREFIX: prefix, INDEX: String(i), ...extraEnv },
        execArgv,
      ),
    ),
  );
  try {
    return await body(instances);
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    if (kind === 'redis') await dropPrefix(redis, prefix);
  }
}

/** Part 1: updates paced at RATE over JOBS jobs, received by `streams` SSE clients on each instance. */
async function latencyRun({ store: kind, instances: n, streams, throttleMs, role }) {
  const throttle = throttleMs === null ? 'default (50 ms)' : `${throttleMs} ms`;
  process.stdout.write(`latency: ${kind}, ${n} × ${streams} streams, throttle ${throttle}… `);
  const env = throttleMs === null ? {} : { THROTTLE_MS: String(throttleMs) };
  const load = round(os.loadavg()[0], 2);
  return withInstances(kind, n, env, async (instances) => {
    const created = await Promise.all(
      instances.map((instance, i) =>
        instance.ask('create', { count: Math.floor((JOBS * (i + 1)) / n) - Math.floor((JOBS * i) / n) }),
      ),
    );
    const ids = created.flatMap((c) => c.ids);
    // Every instance holds every job before its clients ask for one.
    while (!(await Promise.all(instances.map((instance) => instance.ask('has', { ids })))).every(Boolean))
      await sleep(20);
    const clients = await startChild('redis-clients.js');
    try {
      const targets = range(n).flatMap((i) =>
        range(streams).map((s) => ({ url: `${created[i].url}/events?job_id=${ids[s % JOBS]}`, instance: i })),
      );
      const connectStart = now();
      await clients.ask('connect', { targets });
      const connectMs = now() - connectStart;
      const before = kind === 'redis' ? await redisCounters(redis) : null;
      const startAt = now() + 200;
      const from = startAt + WARMUP_S * 1000;
      const to = from + MEASURE_S * 1000;
      await clients.ask('window', { from, to });
      const pressure = cpuPressure();
      const paced = await Promise.all(
        instances.map((instance, i) =>
          instance.ask('pace', {
            ids: created[i].ids,
            rate: RATE / n,
            // The writers take turns: one update every 1000 / RATE ms from all of them together.
            startAt: startAt + (i * 1000) / RATE,
            from,
            to,
            seconds: WARMUP_S + MEASURE_S,
          }),
        ),
      );
      // The last updates' frames, if any are still on their way.
      await sleep(300);
      const report = await clients.ask('report');
      const after = kind === 'redis' ? await redisCounters(redis) : null;
      const sent = paced.reduce((sum, p) => sum + p.sent, 0);
      const measured = paced.reduce((sum, p) => sum + p.measured, 0);
      const perJob = streams / JOBS;
      const cross = kind === 'redis' ? report.remote : report.all;
      const result = {
        store: kind,
        instances: n,
        streamsPerInstance: streams,
        throttleMs,
        role,
        rateTarget: RATE,
        rateAchieved: round(measured / MEASURE_S, 0),
        failed: paced.reduce((sum, p) => sum + p.failed, 0),
        latency: cross,
        sameInstance: report.local,
        delivered: report.all.count,
        expected: measured * perJob * n,
        closedStreams: report.closed,
        connectMs: round(connectMs, 0),
        cpu: cpuFigures(paced, report, pressure, before, after),
        loadAverageAtStart: load,
        loopP99Ms: { instances: paced.map((p) => p.loopP99Ms), clients: report.loopP99Ms },
        loopMaxMs: paced.map((p) => p.loopMaxMs),
        commands: after ? commandsPerUpdate(before, after, sent, n) : null,
      };
      console.log(
        `p50 ${cross.p50Ms} ms, p99 ${cross.p99Ms} ms, max ${cross.maxMs} ms, ${result.delivered}/${result.expected} delivered`,
      );
      return result;
    } finally {
      await clients.stop();
    }
  });
}

/** Part 2: every one of LOOP_JOBS jobs per instance in a loop of `await update()` for LOOP_S seconds. */
async function throughputRun(kind, n) {
  process.stdout.write(`updates/s: ${kind} × ${n} instance${n > 1 ? 's' : ''}… `);
  return withInstances(kind, n, {}, async (instances) => {
    const created = await Promise.all(instances.map((instance) => instance.ask('create', { count: LOOP_JOBS })));
    const before = kind === 'redis' ? await redisCounters(redis) : null;
    const startAt = now() + 200;
    const from = startAt + LOOP_WARMUP_S * 1000;
    const loops = await Promise.all(
      instances.map((instance, i) =>
        instance.ask('closedLoop', { ids: created[i].ids, startAt, from, seconds: LOOP_S }),
      ),
    );
    const after = kind === 'redis' ? await redisCounters(redis) : null;
    const perInstance = loops.map((loop) => round(loop.updates / (loop.elapsedMs / 1000), 0));
    const total = loops.reduce((sum, loop) => sum + loop.total, 0);
    const result = {
      store: kind,
      instances: n,
      jobsPerInstance: LOOP_JOBS,
      perSecond: perInstance.reduce((sum, rate) => sum + rate, 0),
      perInstance,
      failed: loops.reduce((sum, loop) => sum + loop.failed, 0),
      cpuUsPerUpdate: round((loops.reduce((sum, loop) => sum + loop.cpuMs, 0) * 1000) / total, 1),
      commands: after ? commandsPerUpdate(before, after, total, n) : null,
    };
    console.log(`${result.perSecond}/s (${perInstance.join(' + ')})`);
    return result;
  });
}

/** The Redis of this run, and a connection to it for INFO and deleting keys. */
let redisServer;
let redis;

export async function redisBench() {
  if (STREAMS % JOBS !== 0) throw new Error('STREAMS must be a multiple of JOBS');
  // The client process holds every connection: one descriptor each.
  const fdLimit = machine().fdLimit ?? 1024;
  if (INSTANCES * STREAMS + 256 > fdLimit) {
    const skipped = `skipped: \`ulimit -n\` is ${fdLimit}, ${INSTANCES * STREAMS} connections need more (bench/run.sh raises it)`;
    console.log(skipped);
    writeResults('redis', { skipped });
    return { skipped };
  }
  try {
    redisServer = await openRedis();
  } catch (error) {
    const skipped = `skipped: no redis-server to start (${error.message}); set REDIS_URL to use a running Redis`;
    console.log(skipped);
    writeResults('redis', { skipped });
    return { skipped };
  }
  redis = new Redis(redisServer.url);
  try {
    return await measureAll();
  } finally {
    redis.disconnect();
    await redisServer.stop();
  }
}

async function measureAll() {
  const throughput = [];
  throughput.push(await throughputRun('memory', 1));
  throughput.push(await throughputRun('redis', 1));
  throughput.push(await throughputRun('redis', INSTANCES));
  const latency = [];
  for (const run of LATENCY_RUNS) latency.push(await latencyRun(run));

  const baseline = (run) => latency.find((other) => other.role === 'baseline' && other.throttleMs === run.throttleMs);
  const vsMemory = (run, key) => (run.role === 'goal' ? ratio(run.latency[key], baseline(run).latency[key]) : '');
  printTable(
    `Delivery latency: ${RATE} updates/s over ${JOBS} jobs for ${MEASURE_S} s (after ${WARMUP_S} s warm-up), every stream watching one job; Redis: clients on another instance than the writer`,
    latency.map((run) => ({
      store: run.store,
      throttle: run.throttleMs === null ? 'default' : `${run.throttleMs} ms`,
      streams: `${run.instances} × ${run.streamsPerInstance}`,
      row: run.role,
      'updates/s': run.rateAchieved,
      'p50 ms': run.latency.p50Ms,
      'p99 ms': run.latency.p99Ms,
      'max ms': run.latency.maxMs,
      'same-instance p99': run.store === 'redis' ? run.sameInstance.p99Ms : '',
      delivered: `${run.delivered}/${run.expected}`,
      'p50 ÷ memory': vsMemory(run, 'p50Ms'),
      'p99 ÷ memory': vsMemory(run, 'p99Ms'),
      [`goal p99 < ${GOAL_P99_MS} ms`]: run.role === 'goal' ? (run.latency.p99Ms < GOAL_P99_MS ? 'met' : 'missed') : '',
      'CPU %: instances, clients, Redis': `${run.cpu.instances.join('+')}, ${run.cpu.clients}, ${run.cpu.redis ?? '–'}`,
      'waiting for a CPU %': `${run.cpu.instancesWaiting.join('+')}, ${run.cpu.clientsWaiting}`,
    })),
  );

  const memoryRate = throughput[0].perSecond;
  printTable(
    `Updates/s: ${LOOP_JOBS} jobs per instance, each in a loop of \`await update()\`, for ${LOOP_S} s`,
    throughput.map((run) => ({
      store: run.store,
      instances: run.instances,
      'updates/s': run.perSecond,
      'per instance': run.perInstance.join(' + '),
      '÷ memory': ratio(run.perSecond, memoryRate),
      'per instance ÷ memory': ratio(run.perSecond / run.instances, memoryRate),
      'CPU µs/update': run.cpuUsPerUpdate,
    })),
  );

  const commandRows = [
    ...throughput
      .filter((run) => run.commands)
      .map((run) => ({ run: `updates/s, ${run.instances} instance(s)`, ...run.commands })),
    ...latency
      .filter((run) => run.commands)
      .map((run) => ({
        run: `latency, ${run.instances} × ${run.streamsPerInstance}, throttle ${run.throttleMs ?? 'default'}`,
        ...run.commands,
      })),
  ];
  printTable(
    'Redis commands per update() (INFO commandstats; scripts include lease renewals and sweeps)',
    commandRows.map((row) => ({
      run: row.run,
      updates: row.updates,
      'scripts (writer)': row.scriptsPerUpdate,
      'commands in scripts': row.commandsInScriptsPerUpdate,
      'XREAD per instance': row.xreadPerUpdatePerInstance,
      'events per XREAD': row.eventsPerXread,
      'Redis CPU µs': row.redisCpuUsPerUpdate,
    })),
  );

  const headline = latency.find((run) => run.role === 'goal' && run.throttleMs === null);
  const figures = {
    redis: redisServer.shared
      ? { url: redisServer.url, shared: true }
      : { private: true, version: redisServer.version },
    shape: {
      instances: INSTANCES,
      streamsPerInstance: STREAMS,
      jobs: JOBS,
      rate: RATE,
      warmupSeconds: WARMUP_S,
      measureSeconds: MEASURE_S,
      loopJobsPerInstance: LOOP_JOBS,
      loopSeconds: LOOP_S,
    },
    goals: {
      crossInstanceP99Ms: {
        goal: `< ${GOAL_P99_MS}`,
        measured: headline.latency.p99Ms,
        met: headline.latency.p99Ms < GOAL_P99_MS,
        throttleOffMs: latency.find((run) => run.role === 'goal' && run.throttleMs === 0).latency.p99Ms,
      },
    },
    latency,
    throughput,
  };
  const path = writeResults('redis', figures);
  console.log(`→ ${path}`);
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) await redisBench();
