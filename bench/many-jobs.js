// Benchmark: many jobs at once, the way an admin with many peers runs them. 1,000 running jobs, each
// updated 10 times a second into the JSONL store (10,000 updates/s), and 200 streams through the
// Express router with default options, each filtered to one target (5 jobs). Beside it, the same
// 10,000 updates/s into one job followed by the same 200 streams (the single-job figures), and the
// many jobs on the memory store (what the JSONL store adds). Then lists with 10,000 retained jobs:
// the list route's registry call against a plain scan of every job, in the same run.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import { jobsRouter } from '../dist/express.js';
import { createJobRegistry } from '../dist/index.js';
import { jsonlStore } from '../dist/jsonl.js';
import { now, percentile, printTable, QUICK, ROOT, ratio, round, writeResults } from './lib.js';

const JOBS = QUICK ? 200 : 1000;
const STREAMS = QUICK ? 40 : 200;
const PER_JOB_PER_SECOND = 10;
const SECONDS = QUICK ? 2 : 8;
const RETAINED = QUICK ? 2000 : 10_000;

async function run({ name, jobs: jobCount, store }) {
  const dir = mkdtempSync(join(tmpdir(), 'rj-many-'));
  const registry = await createJobRegistry({
    store: store === 'jsonl' ? jsonlStore({ path: join(dir, 'jobs.jsonl') }) : undefined,
    onError: () => {},
  });
  const jobs = [];
  for (let i = 0; i < jobCount; i++) {
    jobs.push(
      await registry.enqueue({ category: 'sync-push', target: { peer: `peer-${i % STREAMS}` }, state: 'running' }),
    );
  }
  const app = express();
  app.use('/jobs', jobsRouter(registry, { allowAnonymous: true, maxStreamsPerPrincipal: 100_000 }));
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const clients = fork(join(ROOT, 'bench', 'many-jobs-clients.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = (message) =>
    new Promise((resolve, reject) => {
      clients.once('message', (reply) => (reply.type === 'error' ? reject(new Error(reply.message)) : resolve(reply)));
      clients.send(message);
    });
  const paths = Array.from({ length: STREAMS }, (_, k) => `/jobs/events?target.peer=peer-${k}`);
  await ask({ type: 'connect', port: server.address().port, paths });
  await ask({ type: 'reset' });
  process.stdout.write(`many jobs, ${name}: ${jobCount} jobs, ${STREAMS} streams, ${SECONDS} s… `);

  // Every job is due PER_JOB_PER_SECOND times a second; each 10 ms tick updates the jobs now due.
  const rate = JOBS * PER_JOB_PER_SECOND;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpuStart = process.cpuUsage();
  const start = now();
  let sent = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const elapsed = now() - start;
      if (elapsed >= SECONDS * 1000) {
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor((elapsed * rate) / 1000) - sent;
      for (let i = 0; i < due; i++) {
        const job = jobs[sent % jobs.length];
        sent++;
        const sentAt = now();
        void registry.update(job.id, {
          progress: (sent % 100) / 100,
          message: `Copied ${sent} items`,
          data: { sentAt },
        });
      }
    }, 10);
  });
  const elapsedMs = now() - start;
  const cpu = process.cpuUsage(cpuStart);
  loop.disable();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const report = await ask({ type: 'report' });
  clients.kill();
  server.closeAllConnections();
  server.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
  const figures = {
    name,
    jobs: jobCount,
    store,
    streams: STREAMS,
    updates: sent,
    achievedRate: round(sent / (elapsedMs / 1000), 0),
    cpuUsPerUpdate: round(((cpu.user + cpu.system) / sent) * 1, 1),
    cpuShare: round((cpu.user + cpu.system) / 1000 / elapsedMs, 3),
    loopP50Ms: round(loop.percentile(50) / 1e6, 2),
    loopP99Ms: round(loop.percentile(99) / 1e6, 2),
    loopMaxMs: round(loop.max / 1e6, 2),
    framesSent: report.frames,
    framesPerStreamMedian: report.framesPerStreamMedian,
    deliveryP50Ms: report.p50Ms,
    deliveryP99Ms: report.p99Ms,
    streamsClosed: report.closed,
  };
  console.log(`${figures.achievedRate}/s, ${figures.cpuUsPerUpdate} µs CPU/update, loop p99 ${figures.loopP99Ms} ms`);
  return figures;
}

/** With `RETAINED` finished jobs over 200 targets, the list call the list route makes, against a scan. */
async function lists() {
  const registry = await createJobRegistry({ onError: () => {} });
  for (let i = 0; i < RETAINED; i++) {
    const job = await registry.enqueue({
      category: i % 2 ? 'sync-push' : 'sync-pull',
      target: { peer: `peer-${i % STREAMS}` },
      state: 'running',
    });
    await registry.update(job.id, { state: 'success' });
  }
  const everyJob = registry.list({ limit: 500 }).length === 500 ? collectAll(registry) : [];
  const measure = (fn) => {
    const times = [];
    for (let i = 0; i < (QUICK ? 50 : 300); i++) {
      const start = now();
      fn(i);
      times.push(now() - start);
    }
    return { p50Ms: round(percentile(times, 50), 4), p99Ms: round(percentile(times, 99), 4) };
  };
  const target = (i) => ({ peer: `peer-${i % STREAMS}` });
  // The baseline: what a registry without an index does, filter every job then take the newest 50.
  const scan = measure((i) =>
    everyJob
      .filter((job) => job.target.peer === target(i).peer)
      .sort((a, b) => (a.queuedAt < b.queuedAt ? 1 : -1))
      .slice(0, 50),
  );
  const indexed = measure((i) => registry.page({ target: target(i), limit: 50 }));
  const firstPage = measure(() => registry.page({ limit: 50 }));
  const busyOnly = measure(() => registry.page({ state: ['running'], limit: 50 }));
  await registry.close();
  return { retained: RETAINED, scan, indexed, firstPage, busyOnly };
}

function collectAll(registry) {
  const all = [];
  let before;
  do {
    const page = registry.page({ limit: 500, before });
    all.push(...page.jobs);
    before = page.next ?? undefined;
  } while (before);
  return all;
}

export async function manyJobs() {
  const many = await run({ name: 'many jobs, JSONL', jobs: JOBS, store: 'jsonl' });
  const single = await run({ name: 'one job, JSONL', jobs: 1, store: 'jsonl' });
  const memory = await run({ name: 'many jobs, memory', jobs: JOBS, store: 'memory' });
  const row = (f) => ({
    run: f.name,
    jobs: f.jobs,
    'updates/s': f.achievedRate,
    'CPU µs/update': f.cpuUsPerUpdate,
    'CPU share': f.cpuShare,
    'loop p99 ms': f.loopP99Ms,
    'loop max ms': f.loopMaxMs,
    'frames/stream': f.framesPerStreamMedian,
    'delivery p50 ms': f.deliveryP50Ms,
    'delivery p99 ms': f.deliveryP99Ms,
  });
  printTable(
    `Many jobs: ${JOBS * PER_JOB_PER_SECOND} updates/s, ${STREAMS} streams each on one target (Express, defaults)`,
    [row(many), row(single), row(memory)],
  );
  const listFigures = await lists();
  printTable(`Lists with ${RETAINED} retained jobs (newest 50)`, [
    { call: 'page({ target }) — indexed', ...listFigures.indexed },
    { call: 'plain scan of every job (baseline)', ...listFigures.scan },
    { call: 'page() — no filter', ...listFigures.firstPage },
    { call: "page({ state: ['running'] }) — none match", ...listFigures.busyOnly },
  ]);
  const ratios = {
    cpuPerUpdateManyVsSingle: ratio(many.cpuUsPerUpdate, single.cpuUsPerUpdate),
    loopP99ManyVsSingle: ratio(many.loopP99Ms, single.loopP99Ms),
    cpuPerUpdateJsonlVsMemory: ratio(many.cpuUsPerUpdate, memory.cpuUsPerUpdate),
    targetListP50IndexedVsScan: ratio(listFigures.indexed.p50Ms, listFigures.scan.p50Ms),
  };
  console.log(
    `many ÷ one job: CPU/update ${ratios.cpuPerUpdateManyVsSingle}×, loop p99 ${ratios.loopP99ManyVsSingle}×; JSONL ÷ memory CPU/update ${ratios.cpuPerUpdateJsonlVsMemory}×; target list indexed ÷ scan ${ratios.targetListP50IndexedVsScan}×`,
  );
  const path = writeResults('many-jobs', { runs: [many, single, memory], lists: listFigures, ratios });
  console.log(`→ ${path}`);
  return { many, single, memory, lists: listFigures, ratios };
}

if (import.meta.url === `file://${process.argv[1]}`) await manyJobs();
