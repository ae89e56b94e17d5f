// Benchmark 1, fan-out: 1,000 / 5,000 / 10,000 SSE connections on one job, through what users mount
// (the Express router, the Fastify plugin) and the bare Node bridge under both, with the endpoint's
// default options (throttle 50 ms) and tuned ones (`throttleMs: 0`); a raw `res.write` loop (the limit)
// and better-sse's channel broadcast as baselines in the same run. Each configuration gets a fresh
// server process, with the clients in another process on loopback, and measures on the same
// connections: 20 updates 50 ms apart (as progress arrives), then 10 bursts of 5 synchronous updates.
//
// `--sizes 1000,5000` picks sizes, `--rounds 3` rounds, `--impls raw,express` implementations.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { machine, printTable, QUICK, ROOT, ratio, round, writeResults } from './lib.js';

const argument = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const list = (text) => text?.split(',').filter(Boolean);

// Each process holds one descriptor per connection (server and clients are separate processes), so
// `ulimit -n` caps a run's size; sizes that do not fit are skipped and the results say so.
const FD_LIMIT = machine().fdLimit ?? 1024;
const WANTED = list(argument('sizes'))?.map(Number) ?? (QUICK ? [200, 1000] : [1000, 5000, 10000]);
const SIZES = WANTED.filter((size) => size + 256 <= FD_LIMIT);
const SKIPPED = WANTED.filter((size) => !SIZES.includes(size));
const SPACED = { count: 20, gapMs: 50 };
const BURSTS = { count: QUICK ? 4 : 10, per: 5 };
/** Each configuration runs this often, in rotating order; the best round counts (least disturbed by others). */
const ROUNDS = Number(argument('rounds') ?? (QUICK ? 1 : 2));

/** Baselines have no options; ours run with the defaults and tuned. */
const ALL = [
  { impl: 'raw' },
  { impl: 'better-sse' },
  { impl: 'express', options: 'default' },
  { impl: 'express', options: 'tuned' },
  { impl: 'fastify', options: 'default' },
  { impl: 'fastify', options: 'tuned' },
  { impl: 'node', options: 'default' },
  { impl: 'node', options: 'tuned' },
];
/** Context only, on request: the raw loop behind an Express app (what Express alone costs). */
const EXTRA = [{ impl: 'express-raw' }];
const IMPLS = list(argument('impls'));
const CONFIGS = IMPLS ? [...ALL, ...EXTRA].filter((c) => IMPLS.includes(c.impl)) : ALL;
const label = (config) => (config.options ? `${config.impl} (${config.options})` : config.impl);

/**
 * The goals of issue #14, each realtime-jobs ÷ a baseline in the same run, through the Express router
 * on spaced updates (what users send).
 */
export const GOALS = [
  {
    name: 'CPU/update ÷ raw',
    max: 1.15,
    of: (ours, raw) => ratio(ours.spaced.cpuUsPerUpdate, raw.spaced.cpuUsPerUpdate),
  },
  { name: 'p99 ÷ raw', max: 1.1, of: (ours, raw) => ratio(ours.spaced.p99Ms, raw.spaced.p99Ms) },
  { name: 'memory/stream ÷ raw', max: 1.25, of: (ours, raw) => ratio(ours.rssPerConnectionKB, raw.rssPerConnectionKB) },
  { name: 'accept CPU ÷ raw', max: 1.5, of: (ours, raw) => ratio(ours.acceptCpuUsPerStream, raw.acceptCpuUsPerStream) },
  {
    name: 'CPU/update ÷ better-sse',
    max: 0.67,
    of: (ours, _raw, peer) => ratio(ours.spaced.cpuUsPerUpdate, peer.spaced.cpuUsPerUpdate),
  },
  { name: 'p99 ÷ better-sse', max: 0.67, of: (ours, _raw, peer) => ratio(ours.spaced.p99Ms, peer.spaced.p99Ms) },
];

function runOne(config, connections) {
  return new Promise((resolve, reject) => {
    const child = fork(
      join(ROOT, 'bench', 'fanout-server.js'),
      [JSON.stringify({ ...config, connections, spaced: SPACED, bursts: BURSTS })],
      {
        execArgv: ['--expose-gc', ...(process.env.BENCH_CPU_PROF ? cpuProf(config, connections) : [])],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    let result = null;
    child.on('message', (message) => {
      result = message;
    });
    child.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${label(config)} × ${connections}: exit ${code}`)),
    );
  });
}

/** `BENCH_CPU_PROF=<dir>`: a CPU profile of every server process, named by configuration. */
function cpuProf(config, connections) {
  const name = `${config.impl}-${config.options ?? 'baseline'}-${connections}-${Date.now()}.cpuprofile`;
  return ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, `--cpu-prof-name=${name}`];
}

/** Per-phase figures derived from one round's raw ones. */
function phase(figures, connections) {
  return {
    ...figures,
    expected: figures.updates * connections,
    cpuUsPerUpdate: (figures.cpuMs * 1000) / figures.updates,
  };
}

/** Best of the rounds, figure by figure: the lowest of each is the least disturbed by other work. */
function best(config, connections, results) {
  const min = (pick) => Math.min(...results.map(pick));
  const phases = results.map((r) => ({ spaced: phase(r.spaced, connections), bursts: phase(r.bursts, connections) }));
  const bestPhase = (key) => ({
    ...phases[0][key],
    p50Ms: Math.min(...phases.map((p) => p[key].p50Ms)),
    p99Ms: Math.min(...phases.map((p) => p[key].p99Ms)),
    maxMs: Math.min(...phases.map((p) => p[key].maxMs)),
    cpuUsPerUpdate: Math.min(...phases.map((p) => p[key].cpuUsPerUpdate)),
    delivered: Math.min(...phases.map((p) => p[key].delivered)),
    timedOut: phases.some((p) => p[key].timedOut),
    p99MsPerRound: phases.map((p) => p[key].p99Ms),
    cpuUsPerUpdatePerRound: phases.map((p) => round(p[key].cpuUsPerUpdate, 0)),
  });
  return {
    ...config,
    connections,
    rounds: results.length,
    open: min((r) => r.open),
    connectMs: min((r) => r.connectMs),
    acceptCpuUsPerStream: min((r) => (r.acceptCpuMs * 1000) / connections),
    rssPerConnectionKB: min((r) => r.rssPerConnectionKB),
    heapPerConnectionKB: min((r) => r.heapPerConnectionKB),
    rssPerConnectionKBPerRound: results.map((r) => round(r.rssPerConnectionKB, 1)),
    spaced: bestPhase('spaced'),
    bursts: bestPhase('bursts'),
  };
}

/** Ratios of every mount and options to both baselines, on each kind of updates, and the goals. */
function compare(runs) {
  const of = (connections, impl, options) =>
    runs.find((run) => run.connections === connections && run.impl === impl && run.options === options);
  const ratios = [];
  const goals = [];
  for (const connections of SIZES) {
    const raw = of(connections, 'raw');
    const peer = of(connections, 'better-sse');
    if (!raw || !peer) continue;
    for (const run of runs.filter((r) => r.connections === connections && (r.options || r.impl === 'express-raw'))) {
      for (const key of ['spaced', 'bursts']) {
        ratios.push({
          streams: connections,
          impl: label(run),
          updates: key,
          'CPU/update ÷ raw': ratio(run[key].cpuUsPerUpdate, raw[key].cpuUsPerUpdate),
          'p99 ÷ raw': ratio(run[key].p99Ms, raw[key].p99Ms),
          'p50 ÷ raw': ratio(run[key].p50Ms, raw[key].p50Ms),
          'CPU/update ÷ better-sse': ratio(run[key].cpuUsPerUpdate, peer[key].cpuUsPerUpdate),
          'p99 ÷ better-sse': ratio(run[key].p99Ms, peer[key].p99Ms),
          'memory/stream ÷ raw': ratio(run.rssPerConnectionKB, raw.rssPerConnectionKB),
          'accept CPU ÷ raw': ratio(run.acceptCpuUsPerStream, raw.acceptCpuUsPerStream),
        });
      }
      if (run.impl !== 'express') continue;
      for (const goal of GOALS) {
        const value = goal.of(run, raw, peer);
        goals.push({
          streams: connections,
          impl: label(run),
          goal: goal.name,
          value,
          max: goal.max,
          met: value !== null && value <= goal.max,
        });
      }
    }
  }
  return { ratios, goals };
}

export async function fanout() {
  if (SKIPPED.length > 0) {
    console.log(
      `fan-out: skipping ${SKIPPED.join(', ')} connections: \`ulimit -n\` is ${FD_LIMIT}; raise it to run them`,
    );
  }
  const runs = [];
  for (const connections of SIZES) {
    const rounds = new Map(CONFIGS.map((config) => [config, []]));
    for (let r = 0; r < ROUNDS; r++) {
      // Rotating the order spreads slow moments of a shared machine over every configuration.
      const order = CONFIGS.map((_, i) => CONFIGS[(i + r * 3) % CONFIGS.length]);
      for (const config of order) {
        process.stdout.write(`fan-out: ${label(config)} × ${connections}, round ${r + 1}… `);
        const result = await runOne(config, connections);
        console.log(
          `spaced p99 ${result.spaced.p99Ms} ms, ${round((result.spaced.cpuMs * 1000) / result.spaced.updates, 0)} µs CPU/update; bursts p99 ${result.bursts.p99Ms} ms`,
        );
        rounds.get(config).push(result);
      }
    }
    for (const config of CONFIGS) runs.push(best(config, connections, rounds.get(config)));
    // A long run interrupted at a larger size keeps what it measured (`partial` says so).
    writeResults('fanout', { partial: true, rounds: ROUNDS, spaced: SPACED, bursts: BURSTS, runs, ...compare(runs) });
  }

  const rows = runs.flatMap((run) =>
    ['spaced', 'bursts'].map((key) => ({
      streams: run.connections,
      impl: label(run),
      updates:
        key === 'spaced' ? `${SPACED.count} × ${SPACED.gapMs} ms apart` : `${BURSTS.count} bursts of ${BURSTS.per}`,
      'p50 ms': round(run[key].p50Ms, 1),
      'p99 ms': round(run[key].p99Ms, 1),
      delivered: `${run[key].delivered}/${run[key].expected}${run[key].timedOut ? ' (timed out)' : ''}`,
      'CPU µs/update': round(run[key].cpuUsPerUpdate, 0),
      'accept µs/stream': round(run.acceptCpuUsPerStream, 0),
      'RSS KB/stream': round(run.rssPerConnectionKB, 1),
      'heap KB/stream': round(run.heapPerConnectionKB, 1),
    })),
  );
  printTable(`Fan-out (best of ${ROUNDS} rounds, figure by figure)`, rows);

  const { ratios, goals } = compare(runs);
  printTable('Fan-out ratios (realtime-jobs ÷ baseline, same run; below 1 is better)', ratios);
  printTable(
    'Fan-out goals (issue #14: Express router, 20 updates 50 ms apart)',
    goals.map((g) => ({ ...g, max: `≤ ${g.max}`, met: g.met ? '✓' : '✗' })),
  );
  const path = writeResults('fanout', {
    rounds: ROUNDS,
    spaced: SPACED,
    bursts: BURSTS,
    skippedSizes: SKIPPED.length > 0 ? { sizes: SKIPPED, reason: `ulimit -n is ${FD_LIMIT}` } : null,
    runs,
    ratios,
    goals,
  });
  console.log(`→ ${path}`);
  return { runs, ratios, goals };
}

if (import.meta.url === `file://${process.argv[1]}`) await fanout();
