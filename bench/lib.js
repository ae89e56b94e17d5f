// Shared by the benchmarks: machine facts, percentiles, result files, tables.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const QUICK = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one machine. */
export const now = () => performance.timeOrigin + performance.now();

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** What the figures were measured on, so a reader can tell a quiet machine from a busy one. */
export function machine() {
  const load = os.loadavg();
  let fdLimit = null;
  try {
    fdLimit = Number(execFileSync('bash', ['-c', 'ulimit -n']).toString().trim());
  } catch {
    // Not a shell we can ask.
  }
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown',
    memoryMB: Math.round(os.totalmem() / 2 ** 20),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    loadAverageAtStart: load.map((value) => Number(value.toFixed(2))),
    fdLimit,
    packages: Object.fromEntries(
      ['realtime-jobs', 'better-sse', 'sonic-boom', 'size-limit', 'playwright-core'].map((name) => [
        name,
        name === 'realtime-jobs'
          ? JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version
          : packageVersion(name),
      ]),
    ),
  };
}

/**
 * Linux only (null elsewhere): how long this process has run and how long it was ready to run but
 * waited for a CPU (`/proc/self/schedstat`), in ms. Waiting is what a machine with too few cores costs.
 */
export function schedstat() {
  try {
    const [run, wait] = readFileSync('/proc/self/schedstat', 'utf8').split(' ').map(Number);
    return { runMs: run / 1e6, waitMs: wait / 1e6 };
  } catch {
    return null;
  }
}

/** Linux only (null elsewhere): µs during which some runnable task waited for a CPU (`/proc/pressure/cpu`). */
export function cpuPressure() {
  try {
    return Number(/^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return null;
  }
}

/** The p-th percentile (0..100) of numbers, by nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const round = (value, digits = 2) =>
  value === null || value === undefined || Number.isNaN(value) ? null : Number(value.toFixed(digits));

/** Where a benchmark's figures go: bench/results/, or a temporary folder for `--quick` smoke runs. */
export function resultsPath(name) {
  const dir = QUICK ? join(os.tmpdir(), 'realtime-jobs-bench-quick') : join(ROOT, 'bench', 'results');
  return join(dir, `${name}.json`);
}

/** Writes bench/results/<name>.json with the machine and the date beside the figures. */
export function writeResults(name, figures) {
  const path = resultsPath(name);
  mkdirSync(dirname(path), { recursive: true });
  const body = { name, date: new Date().toISOString(), quick: QUICK, machine: machine(), ...figures };
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}

/** Prints rows (objects) as an aligned text table. */
export function printTable(title, rows) {
  if (rows.length === 0) return;
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (value) => (value === null || value === undefined ? '–' : String(value));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values) => values.map((value, i) => value.padStart(widths[i])).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(columns.map((column) => cell(row[column]))));
}

/**
 * realtime-jobs/otel on the OpenTelemetry SDK as a service would run it (spans batched, metrics
 * collected every second), exporting to nowhere: what the instrumentation costs, not an exporter.
 */
export async function droppingTelemetry() {
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const { openTelemetryInstrumentation } = await import('../dist/otel.js');
  const drop = { export: (_items, done) => done({ code: 0 }), forceFlush: async () => {}, shutdown: async () => {} };
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
  const reader = new PeriodicExportingMetricReader({ exporter: drop, exportIntervalMillis: 1000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    instrumentation: openTelemetryInstrumentation({ tracerProvider, meterProvider }),
    shutdown: async () => {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** `a / b`, rounded, or null when either is missing. */
export function ratio(a, b) {
  if (a === null || b === null || a === undefined || b === undefined || b === 0) return null;
  return round(a / b, 2);
}

/** A job snapshot shaped like the registry's, for the baselines that have no registry. */
export function jobSnapshot(base, patch) {
  return {
    ...base,
    ...patch,
    updatedAt: new Date().toISOString(),
    version: base.version + 1,
  };
}
