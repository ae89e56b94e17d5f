// Benchmark 3, persistence: sustained updates per second into the JSONL store against raw appends
// (a FileHandle batched per tick: the limit) and sonic-boom, in the same run; the cost of `fsync: true`
// beside the default (sustained rate, and the time for one update to be flushed); compaction of a
// 100,000-line file; bootstrap of 500 and 100,000 lines; event-loop delay while writing.
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import SonicBoom from 'sonic-boom';
import { createJobRegistry } from '../dist/index.js';
import { jsonlStore } from '../dist/jsonl.js';
import { jobSnapshot, now, percentile, printTable, QUICK, ratio, round, writeResults } from './lib.js';

const SECONDS = QUICK ? 1 : 3;
const ROUNDS = QUICK ? 1 : 2;
const JOBS = 100;
/** Updates per turn of the event loop: a busy server's steady stream, not one giant loop. */
const PER_TICK = 200;
const message = 'Transferring files to peer-a (this is a realistic progress message)…';

/** Runs `work(i)` PER_TICK times per tick for SECONDS, then `finish()`; measures rate and loop delay. */
async function sustained(work, finish) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const start = now();
  let count = 0;
  await new Promise((resolve) => {
    const tick = () => {
      if (now() - start >= SECONDS * 1000) {
        resolve();
        return;
      }
      for (let i = 0; i < PER_TICK; i++) work(count++);
      setImmediate(tick);
    };
    tick();
  });
  await finish();
  const elapsed = now() - start;
  loop.disable();
  return {
    updates: count,
    perSecond: round(count / (elapsed / 1000), 0),
    loopP99Ms: round(loop.percentile(99) / 1e6, 2),
    loopMaxMs: round(loop.max / 1e6, 2),
  };
}

async function registryRun(dir, name, storeOptions) {
  const store = jsonlStore({ path: join(dir, `${name}.jsonl`), ...storeOptions });
  const registry = await createJobRegistry({ store, onError: () => {} });
  const ids = [];
  for (let i = 0; i < JOBS; i++) {
    ids.push((await registry.enqueue({ category: 'bench', target: { n: String(i) }, state: 'running' })).id);
  }
  const result = await sustained(
    (i) => registry.update(ids[i % JOBS], { progress: (i % 100) / 100, message }),
    () => store.flush(),
  );
  await registry.close();
  return result;
}

/**
 * One update, then `flush()`, `count` times one after the other: how long a caller waits for a single
 * change to be written (and, with `fsync`, on the disk) when nothing else is going on.
 */
async function flushLatency(dir, name, storeOptions, count) {
  const store = jsonlStore({ path: join(dir, `${name}.jsonl`), ...storeOptions });
  const registry = await createJobRegistry({ store, onError: () => {} });
  const id = (await registry.enqueue({ category: 'bench', target: { n: '0' }, state: 'running' })).id;
  await store.flush();
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = now();
    registry.update(id, { progress: (i % 100) / 100, message });
    await store.flush();
    times.push(now() - start);
  }
  await registry.close();
  return { p50Ms: round(percentile(times, 50), 3), p99Ms: round(percentile(times, 99), 3) };
}

/** The same lines the store would write, for the baselines. */
function lineMaker() {
  const jobs = Array.from({ length: JOBS }, (_, i) => ({
    id: `job${String(i).padStart(18, '0')}`,
    category: 'bench',
    target: { n: String(i) },
    scope: 'admin',
    state: 'running',
    phase: null,
    progress: 0,
    message: null,
    data: {},
    queuedAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    finishedAt: null,
    updatedAt: new Date().toISOString(),
    version: 1,
  }));
  return (i) => {
    const job = jobSnapshot(jobs[i % JOBS], { progress: (i % 100) / 100, message });
    jobs[i % JOBS] = job;
    return `${JSON.stringify(job)}\n`;
  };
}

async function rawAppend(dir) {
  const handle = await open(join(dir, 'raw.jsonl'), 'a');
  const line = lineMaker();
  let queue = [];
  let writing = Promise.resolve();
  let scheduled = false;
  const result = await sustained(
    (i) => {
      queue.push(line(i));
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        const batch = queue.join('');
        queue = [];
        writing = writing.then(() => handle.appendFile(batch));
      });
    },
    async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await writing;
    },
  );
  await handle.close();
  return result;
}

async function sonicBoom(dir) {
  const stream = new SonicBoom({ dest: join(dir, 'sonic.jsonl'), sync: false, minLength: 4096 });
  await new Promise((resolve) => stream.once('ready', resolve));
  const line = lineMaker();
  const result = await sustained(
    (i) => stream.write(line(i)),
    () =>
      new Promise((resolve) => {
        stream.once('finish', resolve);
        stream.end();
      }),
  );
  return result;
}

/** A log of `lines` lines over `jobs` jobs, all finished recently (so none is pruned or restarted). */
async function writeLog(path, lines, jobs) {
  const at = new Date().toISOString();
  const rows = [];
  for (let i = 0; i < lines; i++) {
    const n = i % jobs;
    const version = Math.floor(i / jobs) + 1;
    rows.push(
      JSON.stringify({
        id: `job${String(n).padStart(18, '0')}`,
        category: 'bench',
        target: { n: String(n) },
        scope: 'admin',
        state: 'success',
        phase: 'done',
        progress: 1,
        message,
        data: { version },
        queuedAt: at,
        startedAt: at,
        finishedAt: at,
        updatedAt: at,
        version,
      }),
    );
  }
  await writeFile(path, `${rows.join('\n')}\n`);
}

async function timeOpen(path, storeOptions) {
  // Opening may compact (rewrite) the file: keep a copy to restore between rounds.
  const original = await readFile(path);
  let best = null;
  for (let round = 0; round < ROUNDS; round++) {
    await writeFile(path, original);
    const result = await timeOpenOnce(path, storeOptions);
    if (!best || result.ms < best.ms) best = result;
  }
  return best;
}

async function timeOpenOnce(path, storeOptions) {
  const start = now();
  const registry = await createJobRegistry({ store: jsonlStore({ path, ...storeOptions }), onError: () => {} });
  const ms = now() - start;
  const jobs = registry.health().jobs;
  await registry.close();
  return { ms: round(ms, 1), jobs };
}

async function rawParse(path) {
  let best = null;
  for (let round = 0; round < ROUNDS; round++) {
    const result = await rawParseOnce(path);
    if (!best || result.ms < best.ms) best = result;
  }
  return best;
}

async function rawParseOnce(path) {
  const start = now();
  const text = await readFile(path, 'utf8');
  const latest = new Map();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const job = JSON.parse(line);
    latest.set(job.id, job);
  }
  return { ms: round(now() - start, 1), jobs: latest.size };
}

export async function persistence() {
  const dir = await mkdtemp(join(tmpdir(), 'rj-bench-'));
  try {
    console.log(`persistence: sustained writes for ${SECONDS} s each…`);
    // Two interleaved rounds; the better one counts (least disturbed by a shared machine).
    const writers = {
      'realtime-jobs (default maxLines 500)': () => registryRun(dir, 'default', {}),
      'realtime-jobs (append only)': () => registryRun(dir, 'append', { maxLines: 1_000_000_000 }),
      'realtime-jobs (fsync: true)': () => registryRun(dir, 'fsync', { fsync: true }),
      'raw FileHandle append': () => rawAppend(dir),
      'sonic-boom': () => sonicBoom(dir),
    };
    const writes = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(writers)) {
        const result = await run();
        if (!writes[name] || result.perSecond > writes[name].perSecond) writes[name] = result;
      }
    }
    const raw = writes['raw FileHandle append'];
    const sonic = writes['sonic-boom'];
    const plain = writes['realtime-jobs (default maxLines 500)'];
    const synced = writes['realtime-jobs (fsync: true)'];
    printTable(
      `Sustained updates into a JSONL log (${JOBS} jobs, ${PER_TICK} per tick)`,
      Object.entries(writes).map(([name, result]) => ({
        writer: name,
        'updates/s': result.perSecond,
        'vs raw': ratio(result.perSecond, raw.perSecond),
        'vs sonic-boom': ratio(result.perSecond, sonic.perSecond),
        'vs default': ratio(result.perSecond, plain.perSecond),
        'loop p99 ms': result.loopP99Ms,
        'loop max ms': result.loopMaxMs,
      })),
    );

    // One change at a time, as admin jobs mostly come: the wait for flush(), best of the rounds.
    const FLUSHES = QUICK ? 50 : 200;
    const latency = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, options] of [
        ['default', {}],
        ['fsync: true', { fsync: true }],
      ]) {
        const result = await flushLatency(dir, `latency-${round}-${name.replace(/\W/g, '')}`, options, FLUSHES);
        if (!latency[name] || result.p50Ms < latency[name].p50Ms) latency[name] = result;
      }
    }
    printTable(
      `One update then flush(), ${FLUSHES} times`,
      Object.entries(latency).map(([name, result]) => ({
        store: name,
        'p50 ms': result.p50Ms,
        'p99 ms': result.p99Ms,
        'p50 vs default': ratio(result.p50Ms, latency.default.p50Ms),
        'p99 vs default': ratio(result.p99Ms, latency.default.p99Ms),
      })),
    );
    console.log(
      `fsync: true ÷ default: ${ratio(synced.perSecond, plain.perSecond)}× the sustained rate, ` +
        `${ratio(latency['fsync: true'].p50Ms, latency.default.p50Ms)}× the flush wait (p50)`,
    );

    const lines = QUICK ? 20_000 : 100_000;
    const big = join(dir, 'big.jsonl');
    const small = join(dir, 'small.jsonl');
    // Compaction: 1,000 jobs × 100 versions, far over the 500-line cap, so opening compacts.
    await writeLog(big, lines, 1000);
    const compacting = await timeOpen(big, {});
    await writeLog(big, lines, 1000);
    const bootstrapBigRepeated = await timeOpen(big, { maxLines: 1_000_000_000 });
    // Bootstrap: every line its own job, nothing to compact away.
    await writeLog(big, lines, lines);
    const bootstrapBig = await timeOpen(big, { maxLines: 1_000_000_000 });
    const rawBig = await rawParse(big);
    await writeLog(small, 500, 500);
    const bootstrapSmall = await timeOpen(small, {});
    const rawSmall = await rawParse(small);
    const loading = [
      {
        case: `open ${lines} lines / 1,000 jobs, compacting`,
        ms: compacting.ms,
        jobs: compacting.jobs,
        'vs same without compaction': ratio(compacting.ms, bootstrapBigRepeated.ms),
      },
      {
        case: `bootstrap ${lines} lines / 1,000 jobs, no compaction`,
        ms: bootstrapBigRepeated.ms,
        jobs: bootstrapBigRepeated.jobs,
      },
      {
        case: `bootstrap ${lines} lines / ${lines} jobs`,
        ms: bootstrapBig.ms,
        jobs: bootstrapBig.jobs,
        'vs raw parse': ratio(bootstrapBig.ms, rawBig.ms),
      },
      { case: `raw readFile + JSON.parse, ${lines} lines`, ms: rawBig.ms, jobs: rawBig.jobs },
      {
        case: 'bootstrap 500 lines / 500 jobs',
        ms: bootstrapSmall.ms,
        jobs: bootstrapSmall.jobs,
        'vs raw parse': ratio(bootstrapSmall.ms, rawSmall.ms),
      },
      { case: 'raw readFile + JSON.parse, 500 lines', ms: rawSmall.ms, jobs: rawSmall.jobs },
    ];
    printTable('Loading and compaction', loading);
    const path = writeResults('persistence', {
      seconds: SECONDS,
      rounds: ROUNDS,
      jobs: JOBS,
      perTick: PER_TICK,
      writes,
      flushLatency: { count: FLUSHES, ...latency },
      ratios: {
        fsyncVsDefault: ratio(synced.perSecond, plain.perSecond),
        fsyncFlushP50VsDefault: ratio(latency['fsync: true'].p50Ms, latency.default.p50Ms),
        fsyncFlushP99VsDefault: ratio(latency['fsync: true'].p99Ms, latency.default.p99Ms),
        defaultVsRaw: ratio(writes['realtime-jobs (default maxLines 500)'].perSecond, raw.perSecond),
        appendOnlyVsRaw: ratio(writes['realtime-jobs (append only)'].perSecond, raw.perSecond),
        appendOnlyVsSonicBoom: ratio(writes['realtime-jobs (append only)'].perSecond, sonic.perSecond),
      },
      loading,
    });
    console.log(`→ ${path}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await persistence();
