// `npm run bench`: every benchmark, each in a fresh process, one after the other, then a summary.
// `node bench/run.js --quick` runs small versions (a smoke test, not figures to quote).
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine, now, printTable, QUICK, ROOT, ratio, resultsPath } from './lib.js';

const BENCHMARKS = ['fanout', 'flood', 'many-jobs', 'persistence', 'browser', 'redis', 'otel'];
/** Options that take a value (`--sizes 1000,5000`): the value is not a benchmark's name. */
const WITH_VALUE = new Set(['--sizes', '--rounds', '--impls']);
const only = process.argv.slice(2).filter((arg, i, args) => !arg.startsWith('--') && !WITH_VALUE.has(args[i - 1]));
const start = now();
const startedAt = Date.now();
const info = machine();
console.log(
  `realtime-jobs benchmarks${QUICK ? ' (quick)' : ''}: ${info.cpus} × ${info.model}, ${info.memoryMB} MB, Node ${info.node}, load ${info.loadAverageAtStart.join(' ')}, ulimit -n ${info.fdLimit}`,
);
if (info.loadAverageAtStart[0] > info.cpus * 0.5) {
  console.log('warning: the machine is busy; figures will be noisy. Re-run when it is quiet.');
}

const failed = [];
for (const name of only.length > 0 ? only : BENCHMARKS) {
  console.log(`\n=== ${name}`);
  const code = await new Promise((resolve) => {
    const child = fork(join(ROOT, 'bench', `${name}.js`), process.argv.slice(2), {
      execArgv: ['--expose-gc'],
      stdio: 'inherit',
    });
    child.on('exit', resolve);
  });
  if (code !== 0) failed.push(name);
}

const read = (name) => {
  try {
    const result = JSON.parse(readFileSync(resultsPath(name), 'utf8'));
    // A file left by an earlier run (this benchmark failed or was not run) is not this run's figure.
    return Date.parse(result.date) >= startedAt ? result : null;
  } catch {
    return null;
  }
};
const summary = [];
const fanout = read('fanout');
// Every goal of issue #14 with its value, per size and options: `1.07 (≤ 1.15 ✓)`.
for (const connections of [...new Set((fanout?.goals ?? []).map((goal) => goal.streams))]) {
  for (const impl of [...new Set(fanout.goals.map((goal) => goal.impl))]) {
    const goals = fanout.goals.filter((goal) => goal.streams === connections && goal.impl === impl);
    if (goals.length === 0) continue;
    summary.push({
      benchmark: `fan-out ${connections}, ${impl}`,
      result: goals.map((goal) => `${goal.goal} ${goal.value} (≤ ${goal.max} ${goal.met ? '✓' : '✗'})`).join('; '),
    });
  }
}
const flood = read('flood');
if (flood) {
  summary.push({
    benchmark: 'progress flood',
    result: `${flood.achievedRate}/s of ${flood.targetRate}/s, loop p99 ${flood.eventLoopDelayP99Ms} ms, ${flood.framesPerClientMedian} frames/client, final state ${flood.clientsWithFinalState}/${flood.subscribers}`,
  });
}
const many = read('many-jobs');
if (many) {
  summary.push({
    benchmark: 'many jobs',
    result: `CPU/update ${many.ratios.cpuPerUpdateManyVsSingle}× one job's, loop p99 ${many.ratios.loopP99ManyVsSingle}×; list of one target among ${many.lists.retained} jobs ${many.ratios.targetListP50IndexedVsScan}× a scan`,
  });
}
const persistence = read('persistence');
if (persistence) {
  summary.push({
    benchmark: 'persistence',
    result: `append-only ${persistence.ratios.appendOnlyVsRaw}× raw, ${persistence.ratios.appendOnlyVsSonicBoom}× sonic-boom; default ${persistence.ratios.defaultVsRaw}× raw (updates/s)`,
  });
  summary.push({
    benchmark: 'persistence, fsync: true',
    result: `${persistence.ratios.fsyncVsDefault}× the default's updates/s; flush wait p50 ${persistence.ratios.fsyncFlushP50VsDefault}×, p99 ${persistence.ratios.fsyncFlushP99VsDefault}× the default's`,
  });
}
const browser = read('browser');
if (browser) {
  summary.push({
    benchmark: 'browser',
    result: browser.skipped
      ? browser.skipped
      : `${browser.size.gzipBytes} B gzip; DOM p50 ${browser.latency.p50Ms ?? '–'} ms, p99 ${browser.latency.p99Ms ?? '–'} ms`,
  });
}
const otel = read('otel');
if (otel) {
  const row = (name) => otel.rows.find((r) => r.instrumentation === name);
  summary.push({
    benchmark: 'instrumentation',
    result: `CPU per job: ${row('none')['CPU µs/job']} µs without, ${row('empty hooks')['CPU µs/job']} µs with empty hooks, ${row('OpenTelemetry SDK')['CPU µs/job']} µs with OpenTelemetry`,
  });
}
const redis = read('redis');
if (redis?.skipped) summary.push({ benchmark: 'redis', result: redis.skipped });
else if (redis) {
  const headline = redis.latency.find((run) => run.role === 'goal' && run.throttleMs === null);
  const memory = redis.latency.find((run) => run.role === 'baseline' && run.throttleMs === null);
  const [memoryRate, , threeRate] = redis.throughput.map((run) => run.perSecond);
  summary.push({
    benchmark: 'redis, 3 instances',
    result: `cross-instance p99 ${headline.latency.p99Ms} ms (goal < 50 ms: ${redis.goals.crossInstanceP99Ms.met ? 'met' : 'missed'}), ${ratio(headline.latency.p99Ms, memory.latency.p99Ms)}× memory; updates/s ${ratio(threeRate, memoryRate)}× memory; ${headline.commands.scriptsPerUpdate} script + ${headline.commands.xreadPerUpdatePerInstance} XREAD per instance per update`,
  });
}
printTable('Summary (ratios: realtime-jobs ÷ baseline, same run)', summary);
console.log(
  `\n${((now() - start) / 1000).toFixed(0)} s in all${failed.length ? `; failed: ${failed.join(', ')}` : ''}`,
);
process.exitCode = failed.length > 0 ? 1 : 0;
