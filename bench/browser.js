// Benchmark 4, browser: the drop-in bundle's size (size-limit, plus gzip and brotli by zlib) and the
// delay from `registry.update()` on the server to the new message in <job-status>'s DOM in Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { createJobRegistry, createJobsEndpoint } from '../dist/index.js';
import { toNodeHandler } from '../dist/node.js';
import { CHROMIUM_ARGS as ARGS, CHROMIUM_PATH as CHROMIUM } from '../test/support/chromium.js';
import { now, percentile, printTable, QUICK, ROOT, round, writeResults } from './lib.js';

const BUNDLE = join(ROOT, 'dist', 'browser', 'realtime-jobs.js');
const UPDATES = QUICK ? 50 : 300;
const SPACING_MS = 20;

function bundleSize() {
  const code = readFileSync(BUNDLE);
  const sizes = {
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    brotliBytes: brotliCompressSync(code).length,
    sizeLimit: null,
    sizeLimitNote: null,
  };
  try {
    const output = execFileSync(join(ROOT, 'node_modules', '.bin', 'size-limit'), ['--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sizes.sizeLimit = JSON.parse(output.toString());
  } catch (error) {
    // size-limit exits non-zero when a budget is exceeded; its JSON still says by how much.
    const output = error.stdout?.toString() ?? '';
    try {
      sizes.sizeLimit = JSON.parse(output);
    } catch {
      sizes.sizeLimitNote = `size-limit did not run: ${String(error.message).split('\n')[0]}`;
    }
  }
  return sizes;
}

async function domLatency() {
  const { chromium } = await import('playwright-core');
  const registry = await createJobRegistry({ onError: () => {} });
  const job = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' }, state: 'running' });
  const endpoint = createJobsEndpoint(registry, { allowAnonymous: true });
  const handle = toNodeHandler(endpoint, { prefix: '/api/admin/jobs' });
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench</title>
<meta name="realtime-jobs-endpoint" content="/api/admin/jobs"></head><body>
<job-status job-id="${job.id}" label="Push"></job-status>
<script>
  // Records when each "seq N at T" message reaches the element's DOM, against the server's send time.
  window.latencies = [];
  const seen = new Set();
  const watch = () => {
    const root = document.querySelector('job-status')?.shadowRoot;
    if (!root) return void setTimeout(watch, 5);
    new MutationObserver(() => {
      const text = root.querySelector('[part=message]')?.textContent ?? '';
      const match = /seq (\\d+) at ([0-9.]+)/.exec(text);
      if (match && !seen.has(match[1])) {
        seen.add(match[1]);
        window.latencies.push(performance.timeOrigin + performance.now() - Number(match[2]));
      }
    }).observe(root, { subtree: true, childList: true, characterData: true });
  };
  watch();
</script>
<script type="module" src="/realtime-jobs.js"></script></body></html>`;
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/api/admin/jobs')) return void handle(req, res, req);
    if (req.url === '/realtime-jobs.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return void res.end(readFileSync(BUNDLE));
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const profile = await mkdtemp(join(tmpdir(), 'rj-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  try {
    const tab = context.pages()[0] ?? (await context.newPage());
    await tab.goto(`http://127.0.0.1:${server.address().port}/`);
    await tab.waitForFunction(() => document.querySelector('job-status')?.getAttribute('state') === 'running');
    for (let i = 0; i < UPDATES; i++) {
      await registry.update(job.id, { message: `seq ${i} at ${now()}`, progress: i / UPDATES });
      await new Promise((resolve) => setTimeout(resolve, SPACING_MS));
    }
    await tab
      .waitForFunction((count) => window.latencies.length >= count, UPDATES, { timeout: 10_000 })
      .catch(() => {});
    const latencies = await tab.evaluate(() => window.latencies);
    return {
      updates: UPDATES,
      spacingMs: SPACING_MS,
      rendered: latencies.length,
      p50Ms: round(percentile(latencies, 50), 2),
      p99Ms: round(percentile(latencies, 99), 2),
      maxMs: round(percentile(latencies, 100), 2),
    };
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
    server.closeAllConnections();
    server.close();
    await registry.close();
  }
}

export async function browser() {
  if (!existsSync(BUNDLE)) {
    const note = `skipped: ${BUNDLE} is absent (run \`npm run build\` once the browser bundle is part of it)`;
    console.log(`browser: ${note}`);
    writeResults('browser', { skipped: note });
    return { skipped: note };
  }
  const size = bundleSize();
  let latency;
  if (!existsSync(CHROMIUM)) {
    latency = { skipped: `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH, or apt-get install chromium)` };
  } else {
    console.log(`browser: ${UPDATES} updates, ${SPACING_MS} ms apart, into <job-status> in Chromium…`);
    latency = await domLatency();
  }
  const limit = size.sizeLimit?.[0];
  printTable('Browser bundle (dist/browser/realtime-jobs.js)', [
    {
      bytes: size.bytes,
      gzip: size.gzipBytes,
      brotli: size.brotliBytes,
      'size-limit': limit ? `${limit.size} B (${limit.passed ? 'within' : 'over'} budget)` : size.sizeLimitNote,
    },
  ]);
  printTable(
    'Update → <job-status> DOM in Chromium',
    latency.skipped
      ? [{ result: latency.skipped }]
      : [
          {
            updates: latency.updates,
            rendered: latency.rendered,
            'p50 ms': latency.p50Ms,
            'p99 ms': latency.p99Ms,
            'max ms': latency.maxMs,
          },
        ],
  );
  const path = writeResults('browser', { size, latency });
  console.log(`→ ${path}`);
  return { size, latency };
}

if (import.meta.url === `file://${process.argv[1]}`) await browser();
