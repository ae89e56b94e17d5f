import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// Runs against the build (`npm run build` first), as a user's process would load it.
const dist = (file: string) => new URL(`../../dist/${file}`, import.meta.url);

/** A script's body: a registry, routes and a stream, one job run, everything closed again. */
const EXERCISE = `
  const jobs = await createJobRegistry();
  const handle = createJobsHandler(jobs, { allowAnonymous: true });
  const response = await handle(new Request('http://localhost/api/admin/jobs/events'));
  const job = await jobs.run({ category: 'c', target: { peer: 'a' } }, async (ctx) => {
    await ctx.progress(0.5, { phase: 'half' });
    return { done: true };
  });
  while (jobs.get(job.id).state !== 'success') await new Promise((resolve) => setTimeout(resolve, 5));
  await response.body.cancel();
  await jobs.close();`;

async function node(args: string[]): Promise<{ withoutOtel: string[]; withOtel: string[]; all: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 20_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

describe('without an instrumentation', () => {
  it('the root entry and what it imports hold no @opentelemetry import (bundle analysis)', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(dist(file), 'utf8');
      expect(source, file).not.toMatch(/@opentelemetry/);
      // ESM `from "./chunk-….js"`, CJS `require('./chunk-….cjs')`.
      for (const [, chunk] of source.matchAll(/(?:from\s*|require\()["']\.\/([^"']+)["']/g)) visit(chunk as string);
    };
    visit('index.js');
    visit('index.cjs');
    expect([...seen].filter((file) => file.endsWith('.cjs')).length).toBeGreaterThan(2); // their shared chunks too
    expect([...seen].filter((file) => file.endsWith('.js')).length).toBeGreaterThan(2);
    // …while the otel entry does import it (the check above would see it).
    expect(readFileSync(dist('otel.js'), 'utf8')).toMatch(/from ["']@opentelemetry\/api["']/);
  });

  it('running jobs and streams loads no module of @opentelemetry (CommonJS: require.cache)', async () => {
    const script = `
      const { createJobRegistry, createJobsHandler } = require(${JSON.stringify(dist('index.cjs').pathname)});
      (async () => {
        ${EXERCISE}
        const loaded = () => Object.keys(require.cache).filter((path) => path.includes('@opentelemetry'));
        const withoutOtel = loaded();
        const all = Object.keys(require.cache).length;
        require(${JSON.stringify(dist('otel.cjs').pathname)});
        console.log(JSON.stringify({ withoutOtel, withOtel: loaded(), all }));
      })();`;
    const result = await node(['-e', script]);
    expect(result.withoutOtel).toEqual([]);
    expect(result.all).toBeGreaterThan(3);
    // The control: the same tracking sees @opentelemetry/api once realtime-jobs/otel is loaded.
    expect(result.withOtel.some((path) => path.includes('@opentelemetry/api'))).toBe(true);
  });

  it('running jobs and streams loads no module of @opentelemetry (ES modules: a resolve hook)', async () => {
    const hooks = `
      let port;
      export function initialize(data) { port = data.port; }
      export async function resolve(specifier, context, next) {
        const result = await next(specifier, context);
        port.postMessage(result.url);
        return result;
      }`;
    const script = `
      import { register } from 'node:module';
      import { MessageChannel } from 'node:worker_threads';
      const { port1, port2 } = new MessageChannel();
      const resolved = [];
      port1.on('message', (url) => resolved.push(url));
      port1.unref();
      register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)}, {
        data: { port: port2 },
        transferList: [port2],
      });
      const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
      const otel = () => resolved.filter((url) => url.includes('@opentelemetry'));
      const { createJobRegistry, createJobsHandler } = await import(${JSON.stringify(dist('index.js').href)});
      ${EXERCISE}
      await settle();
      const withoutOtel = otel();
      const all = resolved.length;
      await import(${JSON.stringify(dist('otel.js').href)});
      await settle();
      console.log(JSON.stringify({ withoutOtel, withOtel: otel(), all }));`;
    const result = await node(['--input-type=module', '-e', script]);
    expect(result.withoutOtel).toEqual([]);
    expect(result.all).toBeGreaterThan(3);
    expect(result.withOtel.some((url) => url.includes('@opentelemetry/api'))).toBe(true);
  });
});
