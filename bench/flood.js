// Benchmark 2, progress flood: one job updated 10,000 times a second for 5 s with 1,000 subscribers.
// Measures the server's event-loop delay, the frames each client gets (coalescing bounds them) and
// whether every client ends with the final state. This process is the server; clients are forked.
// With `--otel`, the registry and the endpoint carry realtime-jobs/otel on the OpenTelemetry SDK
// (exporting to nowhere), and the figures go to flood-otel.json: what the instrumentation costs.
import { fork } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createJobRegistry, createJobsEndpoint } from '../dist/index.js';
import { toNodeHandler } from '../dist/node.js';
import { droppingTelemetry, now, printTable, QUICK, ROOT, round, writeResults } from './lib.js';

const SUBSCRIBERS = QUICK ? 200 : 1000;
const RATE = 10_000;
const SECONDS = QUICK ? 2 : 5;
/** Updates done in one turn of the event loop at most, as an app's progress callbacks would spread. */
const MAX_PER_TICK = 100;
const OTEL = process.argv.includes('--otel');

/** One flood through an endpoint with the given `throttleMs` (0: every update goes to every client). */
async function floodRun(throttleMs) {
  const telemetry = OTEL ? await droppingTelemetry() : null;
  const instrumentation = telemetry ? { instrumentation: telemetry.instrumentation } : {};
  const registry = await createJobRegistry({ onError: () => {}, ...instrumentation });
  const job = await registry.enqueue({ category: 'flood', state: 'running' });
  const endpoint = createJobsEndpoint(registry, {
    allowAnonymous: true,
    maxStreamsPerPrincipal: 1_000_000,
    heartbeatMs: 3_600_000,
    throttleMs,
    ...instrumentation,
  });
  const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
  const server = http.createServer((req, res) => void handle(req, res, req));
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const clients = fork(join(ROOT, 'bench', 'flood-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (message) =>
    new Promise((resolve) => {
      clients.once('message', resolve);
      clients.send(message);
    });
  await ask({
    type: 'connect',
    port: server.address().port,
    path: `/jobs/events?job_id=${job.id}`,
    connections: SUBSCRIBERS,
  });
  process.stdout.write(
    `flood${OTEL ? ' with OpenTelemetry' : ''} (throttleMs ${throttleMs}): ${SUBSCRIBERS} subscribers, ${RATE}/s for ${SECONDS} s… `,
  );

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpuStart = process.cpuUsage();
  const start = now();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const elapsed = now() - start;
      if (elapsed >= SECONDS * 1000) {
        resolve();
        return;
      }
      const due = Math.min(Math.floor((elapsed * RATE) / 1000) - sent, MAX_PER_TICK);
      for (let i = 0; i < due; i++) {
        sent++;
        void registry.update(job.id, { progress: (sent % 1000) / 1000, message: `Copied ${sent} items` });
      }
      setImmediate(tick);
    };
    tick();
  });
  const floodMs = now() - start;
  const final = await registry.update(job.id, { state: 'success', message: 'Done' });
  const finalAt = now();
  let report;
  for (;;) {
    report = await ask({ type: 'report', version: final.version, state: final.state });
    if (report.final === SUBSCRIBERS || now() - finalAt > 30_000) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const convergeMs = now() - finalAt;
  loop.disable();
  const cpu = process.cpuUsage(cpuStart);
  clients.kill();
  server.closeAllConnections();
  server.close();
  await registry.close();
  await telemetry?.shutdown();

  const figures = {
    throttleMs,
    subscribers: SUBSCRIBERS,
    targetRate: RATE,
    maxPerTick: MAX_PER_TICK,
    updatesSent: sent,
    achievedRate: round(sent / (floodMs / 1000), 0),
    eventLoopDelayP50Ms: round(loop.percentile(50) / 1e6, 2),
    eventLoopDelayP99Ms: round(loop.percentile(99) / 1e6, 2),
    eventLoopDelayMaxMs: round(loop.max / 1e6, 2),
    serverCpuMs: round((cpu.user + cpu.system) / 1000, 0),
    cpuMsPerUpdate: round((cpu.user + cpu.system) / 1000 / (sent + 1), 3),
    framesPerClientMin: report.framesMin,
    framesPerClientMedian: report.framesMedian,
    framesPerClientMax: report.framesMax,
    framesVsUpdates: round(report.framesMedian / (sent + 1), 4),
    clientsWithFinalState: report.final,
    clientsDisconnected: report.closed,
    convergeAfterFinalMs: round(convergeMs, 1),
  };
  console.log(
    `${figures.achievedRate}/s achieved, loop p99 ${figures.eventLoopDelayP99Ms} ms, max ${figures.eventLoopDelayMaxMs} ms`,
  );
  return figures;
}

/**
 * The default endpoint (throttleMs 50) against the same endpoint sending every update (throttleMs 0),
 * the baseline, in one run.
 */
export async function flood() {
  const baseline = await floodRun(0);
  const throttled = await floodRun(50);
  const row = (name, f) => ({
    endpoint: name,
    subscribers: f.subscribers,
    'updates sent': f.updatesSent,
    'rate /s': f.achievedRate,
    'loop p50 ms': f.eventLoopDelayP50Ms,
    'loop p99 ms': f.eventLoopDelayP99Ms,
    'loop max ms': f.eventLoopDelayMaxMs,
    'CPU ms/update': f.cpuMsPerUpdate,
    'frames/client (median)': f.framesPerClientMedian,
    'final state': `${f.clientsWithFinalState}/${f.subscribers}`,
    'converged ms': f.convergeAfterFinalMs,
  });
  printTable(`Progress flood${OTEL ? ' with OpenTelemetry' : ''}`, [
    row('every update (throttleMs 0)', baseline),
    row('default (throttleMs 50)', throttled),
  ]);
  const ratios = {
    rate: round(throttled.achievedRate / baseline.achievedRate, 2),
    loopP99: round(throttled.eventLoopDelayP99Ms / baseline.eventLoopDelayP99Ms, 3),
    framesPerClient: round(throttled.framesPerClientMedian / baseline.framesPerClientMedian, 3),
  };
  console.log(
    `default ÷ every-update: rate ${ratios.rate}×, loop p99 ${ratios.loopP99}×, frames/client ${ratios.framesPerClient}×`,
  );
  // The headline figures stay at the top level (the default endpoint), with the baseline beside them.
  const figures = { ...throttled, baseline, ratios };
  const path = writeResults(OTEL ? 'flood-otel' : 'flood', figures);
  console.log(`→ ${path}`);
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) await flood();
