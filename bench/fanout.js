// Benchmark 1, fan-out: 1,000 / 5,000 / 10,000 SSE connections on one job, bursts of updates.
// realtime-jobs against a raw res.write loop (the limit) and better-sse's channel broadcast, each in a
// fresh server process, with the clients in another process on loopback.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { machine, printTable, QUICK, ROOT, ratio, round, writeResults } from './lib.js';

// Each process holds one descriptor per connection (server and clients are separate processes), so
// `ulimit -n` caps a run's size; sizes that do not fit are skipped and the results say so.
const FD_LIMIT = machine().fdLimit ?? 1024;
const WANTED = QUICK ? [200, 1000] : [1000, 5000, 10000];
const SIZES = WANTED.filter((size) => size + 256 <= FD_LIMIT);
const SKIPPED = WANTED.filter((size) => !SIZES.includes(size));
const BURSTS = QUICK ? 4 : 10;
/** Each configuration runs this often, in rotating order; the best round counts (least disturbed by others). */
const ROUNDS = QUICK ? 1 : 2;
const PER_BURST = 5;
const IMPLEMENTATIONS = ['raw', 'realtime-jobs', 'better-sse'];

function runOne(impl, connections) {
  return new Promise((resolve, reject) => {
    const child = fork(
      join(ROOT, 'bench', 'fanout-server.js'),
      [impl, String(connections), String(BURSTS), String(PER_BURST)],
      { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    let result = null;
    child.on('message', (message) => {
      result = message;
    });
    child.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${impl} × ${connections}: exit ${code}`)),
    );
  });
}

/** The round with the lowest p99; memory is averaged over the rounds (it does not suffer from load). */
function best(results) {
  const chosen = [...results].sort((a, b) => a.p99Ms - b.p99Ms)[0];
  const mean = (key) => results.reduce((sum, result) => sum + result[key], 0) / results.length;
  return {
    ...chosen,
    rounds: results.length,
    p99MsPerRound: results.map((result) => result.p99Ms),
    rssPerConnectionKB: mean('rssPerConnectionKB'),
    heapPerConnectionKB: mean('heapPerConnectionKB'),
  };
}

export async function fanout() {
  if (SKIPPED.length > 0) {
    console.log(
      `fan-out: skipping ${SKIPPED.join(', ')} connections: \`ulimit -n\` is ${FD_LIMIT}; raise it to run them`,
    );
  }
  const runs = [];
  for (const connections of SIZES) {
    const rounds = new Map(IMPLEMENTATIONS.map((impl) => [impl, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotating the order spreads slow moments of a shared machine over every implementation.
      const order = IMPLEMENTATIONS.map((_, i) => IMPLEMENTATIONS[(i + round) % IMPLEMENTATIONS.length]);
      for (const impl of order) {
        process.stdout.write(`fan-out: ${impl} × ${connections} connections, round ${round + 1}… `);
        const result = await runOne(impl, connections);
        console.log(`p99 ${result.p99Ms} ms, ${result.delivered}/${result.expected} delivered`);
        rounds.get(impl).push(result);
      }
    }
    for (const impl of IMPLEMENTATIONS) runs.push(best(rounds.get(impl)));
  }
  const rows = runs.map((run) => ({
    connections: run.connections,
    impl: run.impl,
    'p50 ms': run.p50Ms,
    'p99 ms': run.p99Ms,
    'max ms': run.maxMs,
    delivered: `${run.delivered}/${run.expected}`,
    'CPU ms': round(run.cpuMs, 0),
    'CPU µs/event': round((run.cpuMs * 1000) / run.expected, 2),
    'RSS KB/conn': round(run.rssPerConnectionKB, 1),
    'heap KB/conn': round(run.heapPerConnectionKB, 1),
    'connect s': round(run.connectMs / 1000, 1),
  }));
  printTable(`Fan-out: ${BURSTS} bursts of ${PER_BURST} updates to one job (best of ${ROUNDS} rounds)`, rows);

  const ratios = SIZES.map((connections) => {
    const of = (impl) => runs.find((run) => run.impl === impl && run.connections === connections);
    const ours = of('realtime-jobs');
    const raw = of('raw');
    const peer = of('better-sse');
    return {
      connections,
      'p99 vs raw': ratio(ours.p99Ms, raw.p99Ms),
      'p99 vs better-sse': ratio(ours.p99Ms, peer.p99Ms),
      'p50 vs raw': ratio(ours.p50Ms, raw.p50Ms),
      'CPU vs raw': ratio(ours.cpuMs, raw.cpuMs),
      'CPU vs better-sse': ratio(ours.cpuMs, peer.cpuMs),
      'RSS/conn vs raw': ratio(ours.rssPerConnectionKB, raw.rssPerConnectionKB),
      'RSS/conn vs better-sse': ratio(ours.rssPerConnectionKB, peer.rssPerConnectionKB),
      'goal p99 ≤1.25× raw': ratio(ours.p99Ms, raw.p99Ms) <= 1.25 ? 'met' : 'missed',
      'goal p99 ≤ better-sse': ours.p99Ms <= peer.p99Ms ? 'met' : 'missed',
      'goal RSS ≤1.2× raw': ratio(ours.rssPerConnectionKB, raw.rssPerConnectionKB) <= 1.2 ? 'met' : 'missed',
    };
  });
  printTable('Fan-out ratios (realtime-jobs ÷ baseline; below 1 is better)', ratios);
  const path = writeResults('fanout', {
    rounds: ROUNDS,
    bursts: BURSTS,
    perBurst: PER_BURST,
    skippedSizes: SKIPPED.length > 0 ? { sizes: SKIPPED, reason: `ulimit -n is ${FD_LIMIT}` } : null,
    runs,
    ratios,
  });
  console.log(`→ ${path}`);
  return { runs, ratios };
}

if (import.meta.url === `file://${process.argv[1]}`) await fanout();
