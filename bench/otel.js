// Benchmark 6, instrumentation: what the registry's instrumentation hooks cost when absent, when
// present but empty, and with realtime-jobs/otel on the OpenTelemetry SDK (batched spans, metrics
// aggregated and exported every second to an exporter that drops them). Two workloads, each in a
// fresh process per configuration, configurations alternating, several rounds, medians reported:
//   jobs: definition jobs, each with 10 awaited ctx.progress() calls (with a phase), 100 at a time;
//   updates: registry.update() progress patches on one running job, each awaited (a write each);
//   streams: the same with 200 streams of an endpoint (throttleMs 0, sinks in memory) watching it:
//     the flood's server side without sockets, whose client process makes a busy machine noisier.
// CPU time per job and per update is the headline (a busy machine inflates wall time more).
// `node bench/otel.js --baseline <dist folder>` adds another build (the release before the hooks,
// say) with no instrumentation to the rotation: what adding the hooks cost a user who has none.
import { fork } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { droppingTelemetry, now, percentile, printTable, QUICK, ROOT, round, writeResults } from './lib.js';

const JOBS = QUICK ? 500 : 3000;
const UPDATES = QUICK ? 5000 : 30_000;
const STREAM_UPDATES = QUICK ? 500 : 3000;
const STREAMS = 200;
const PROGRESS_PER_JOB = 10;
const IN_FLIGHT = 100;
const ROUNDS = QUICK ? 1 : 5;

const argument = (name) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
};

/** One configuration in this process: prints its figures as JSON. */
async function child(config, dist) {
  const { createJobRegistry, createJobsEndpoint } = await import(pathToFileURL(join(dist, 'index.js')).href);
  let instrumentation;
  if (config === 'hooks') {
    instrumentation = { attach() {}, owned() {}, attempt: (_job, work) => work(), storeWrite() {} };
  } else if (config === 'otel') {
    instrumentation = (await droppingTelemetry()).instrumentation;
  }
  const jobs = await createJobRegistry({ onError: () => {}, ...(instrumentation ? { instrumentation } : {}) });
  let finished = 0;
  jobs.subscribe({}, (event) => {
    if (event.job.state === 'success') finished++;
  });
  const work = jobs.define('bench', async (ctx) => {
    for (let i = 0; i < PROGRESS_PER_JOB; i++) {
      await ctx.progress(i / PROGRESS_PER_JOB, { phase: i % 2 === 0 ? 'even' : 'odd' });
    }
    return { ok: true };
  });

  async function runJobs(count) {
    const target = finished + count;
    for (let started = 0; started < count; ) {
      const batch = Math.min(IN_FLIGHT, count - started);
      const goal = finished + batch;
      await Promise.all(Array.from({ length: batch }, () => work.run({})));
      started += batch;
      while (finished < goal) await new Promise((resolve) => setImmediate(resolve));
    }
    while (finished < target) await new Promise((resolve) => setImmediate(resolve));
  }

  async function runUpdates(count) {
    const job = await jobs.enqueue({ category: 'flood', state: 'running' });
    // One at a time: each update is a write of its own (queued ones would be merged into one).
    for (let sent = 0; sent < count; sent++) await jobs.update(job.id, { progress: (sent % 1000) / 1000 });
    await jobs.update(job.id, { state: 'success' });
  }

  async function runStreams(count) {
    const endpoint = createJobsEndpoint(jobs, {
      allowAnonymous: true,
      throttleMs: 0,
      heartbeatMs: 3_600_000,
      maxStreamsPerPrincipal: STREAMS,
      ...(instrumentation ? { instrumentation } : {}),
    });
    const job = await jobs.enqueue({ category: 'watched', state: 'running' });
    let bytes = 0;
    const sink = {
      write(chunk) {
        bytes += chunk.byteLength;
        return true;
      },
      end() {},
    };
    for (let i = 0; i < STREAMS; i++) {
      const query = new URLSearchParams({ job_id: job.id });
      const response = await endpoint.handle({ method: 'GET', path: '/events', query, header: () => undefined }, null);
      response.stream.start(sink);
    }
    for (let sent = 0; sent < count; sent++) await jobs.update(job.id, { progress: (sent % 1000) / 1000 });
    await jobs.update(job.id, { state: 'success' });
    endpoint.closeStreams();
    if (bytes === 0) throw new Error('the streams got nothing');
  }

  const measure = async (fn, count) => {
    globalThis.gc?.();
    const cpu = process.cpuUsage();
    const start = now();
    await fn(count);
    const used = process.cpuUsage(cpu);
    return { cpuUs: (used.user + used.system) / count, wallUs: ((now() - start) * 1000) / count };
  };
  await runJobs(Math.round(JOBS / 5)); // warm-up
  await runUpdates(Math.round(UPDATES / 5));
  await runStreams(Math.round(STREAM_UPDATES / 5));
  const figures = {
    jobs: await measure(runJobs, JOBS),
    updates: await measure(runUpdates, UPDATES),
    streams: await measure(runStreams, STREAM_UPDATES),
  };
  await jobs.close();
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
}

function runChild(config, dist) {
  return new Promise((resolveRun, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', config, '--dist', dist], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('exit', (code) =>
      code === 0 ? resolveRun(JSON.parse(out.trim())) : reject(new Error(`${config}: ${code}`)),
    );
  });
}

export async function otel() {
  const dist = join(ROOT, 'dist');
  const baseline = argument('--baseline') && resolve(argument('--baseline'));
  const configs = [...(baseline ? ['baseline'] : []), 'none', 'hooks', 'otel'];
  const samples = Object.fromEntries(configs.map((config) => [config, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const config of configs) {
      process.stdout.write(`round ${round}/${ROUNDS}: ${config}… `);
      const figures = await (config === 'baseline' ? runChild('none', baseline) : runChild(config, dist));
      samples[config].push(figures);
      console.log(
        `${round2(figures.jobs.cpuUs)} µs CPU/job, ${round2(figures.updates.cpuUs)} µs CPU/update, ${round2(figures.streams.cpuUs)} µs CPU/update to ${STREAMS} streams`,
      );
    }
  }
  const median = (config, workload, field) =>
    round(
      percentile(
        samples[config].map((s) => s[workload][field]),
        50,
      ),
      1,
    );
  const rows = configs.map((config) => ({
    instrumentation: {
      baseline: 'baseline build, none',
      none: 'none',
      hooks: 'empty hooks',
      otel: 'OpenTelemetry SDK',
    }[config],
    'CPU µs/job': median(config, 'jobs', 'cpuUs'),
    'wall µs/job': median(config, 'jobs', 'wallUs'),
    'CPU µs/update': median(config, 'updates', 'cpuUs'),
    'wall µs/update': median(config, 'updates', 'wallUs'),
    [`CPU µs/update, ${STREAMS} streams`]: median(config, 'streams', 'cpuUs'),
    [`wall µs/update, ${STREAMS} streams`]: median(config, 'streams', 'wallUs'),
  }));
  printTable(`Instrumentation cost (median of ${ROUNDS} rounds)`, rows);
  const figures = {
    baseline: baseline ?? null,
    jobs: JOBS,
    updates: UPDATES,
    streams: STREAMS,
    streamUpdates: STREAM_UPDATES,
    progressPerJob: PROGRESS_PER_JOB,
    rounds: ROUNDS,
    rows,
    samples,
  };
  console.log(`→ ${writeResults('otel', figures)}`);
  return figures;
}

const round2 = (value) => round(value, 1);

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--child')) await child(argument('--child'), argument('--dist'));
  else await otel();
}
