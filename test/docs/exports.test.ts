// The docs name everything the package exports and every option its functions take, and state the
// bundle budgets the build enforces: an export or an option added without a word in the docs, or a
// budget raised without the docs following, fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docFiles, ROOT } from './markdown.js';

/** Each package entry (package.json `exports`) and the source tsup builds it from. */
const ENTRIES: Record<string, string> = {
  '.': 'src/index.ts',
  './node': 'src/adapters/node.ts',
  './express': 'src/adapters/express.ts',
  './fastify': 'src/adapters/fastify.ts',
  './client': 'src/client/index.ts',
  './element': 'src/client/job-status/index.ts',
  './job-list': 'src/client/job-list/index.ts',
  './html': 'src/html/index.ts',
  './jsonl': 'src/stores/jsonl.ts',
  './testing': 'src/testing/index.ts',
  './redis': 'src/stores/redis/index.ts',
  './otel': 'src/otel/index.ts',
};
/** Entries that are files, not modules of their own: the bundles re-export `./element` and `./job-list`. */
const NOT_MODULES = new Set(['./browser.js', './browser-list.js', './package.json']);

/** [source, options interface, the doc that lists its options]. */
const OPTIONS: Array<[string, string, string]> = [
  ['src/core/registry-api.ts', 'JobRegistryOptions', 'docs/concepts.md'],
  ['src/protocol/job.ts', 'JobLimits', 'docs/concepts.md'],
  ['src/core/definitions.ts', 'JobDefinitionOptions', 'docs/concepts.md'],
  ['src/core/definitions.ts', 'DefinitionRunOptions', 'docs/concepts.md'],
  ['src/core/validate.ts', 'EnqueueInput', 'docs/concepts.md'],
  ['src/core/validate.ts', 'JobPatch', 'docs/concepts.md'],
  ['src/core/runner.ts', 'JobContext', 'docs/concepts.md'],
  ['src/core/registry-api.ts', 'JobRegistry', 'docs/concepts.md'],
  ['src/core/definitions.ts', 'JobDefinition', 'docs/concepts.md'],
  ['src/client/feed/types.ts', 'JobFeed', 'docs/client.md'],
  ['src/adapters/express.ts', 'JobsRouter', 'docs/adapters/express.md'],
  ['src/adapters/fastify.ts', 'RealtimeJobs', 'docs/adapters/fastify.md'],
  ['src/core/http/fetch-handler.ts', 'JobsHandler', 'docs/adapters/fetch.md'],
  ['src/core/http/endpoint.ts', 'JobsEndpoint', 'docs/adapters/fetch.md'],
  ['src/stores/memory.ts', 'MemoryStoreOptions', 'docs/concepts.md'],
  ['src/stores/jsonl.ts', 'JsonlStoreOptions', 'docs/concepts.md'],
  ['src/stores/redis/index.ts', 'RedisStoreOptions', 'docs/scaling.md'],
  ['src/core/http/endpoint.ts', 'JobsHandlerOptions', 'docs/adapters/express.md'],
  ['src/core/http/endpoint.ts', 'JobsHandlerOptions', 'docs/adapters/fastify.md'],
  ['src/core/http/endpoint.ts', 'JobsHandlerOptions', 'docs/adapters/fetch.md'],
  ['src/adapters/fastify.ts', 'JobsPluginOptions', 'docs/adapters/fastify.md'],
  ['src/core/http/fetch-handler.ts', 'FetchHandlerOptions', 'docs/adapters/fetch.md'],
  ['src/adapters/node.ts', 'NodeHandlerOptions', 'docs/adapters/fetch.md'],
  ['src/client/feed/options.ts', 'JobFeedOptions', 'docs/client.md'],
  ['src/html/render.ts', 'RenderJobStatusOptions', 'docs/element.md'],
  ['src/html/render-list.ts', 'RenderJobListOptions', 'docs/job-list.md'],
  ['src/html/list-view.ts', 'JobListQuery', 'docs/job-list.md'],
  ['src/otel/index.ts', 'OpenTelemetryOptions', 'docs/opentelemetry.md'],
];

/** The fields and methods of `interface name` in a source file: its body's lines indented by two spaces. */
function fieldsOf(source: string, name: string): string[] {
  const text = readFileSync(join(ROOT, source), 'utf8');
  const start = text.search(new RegExp(`^export interface ${name}\\b`, 'm'));
  if (start < 0) throw new Error(`${source} has no interface ${name}`);
  const body = text.slice(start, text.indexOf('\n}', start));
  const fields = [...body.matchAll(/^ {2}(?:readonly )?([A-Za-z]\w*)\??[:(<]/gm)].map((match) => match[1] as string);
  if (fields.length === 0) throw new Error(`found no field of ${name} in ${source}`);
  return fields;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const docs = docFiles()
  .map((file) => readFileSync(join(ROOT, file), 'utf8'))
  .join('\n');

describe('the docs and the exports', () => {
  it('knows the source of every package entry', () => {
    expect(Object.keys(pkg.exports).filter((entry) => !NOT_MODULES.has(entry))).toEqual(Object.keys(ENTRIES));
  });

  it('names every value each entry exports', async () => {
    const unnamed: string[] = [];
    for (const [entry, source] of Object.entries(ENTRIES)) {
      const module = (await import(join(ROOT, source))) as Record<string, unknown>;
      for (const name of Object.keys(module)) {
        if (!new RegExp(`\\b${name}\\b`).test(docs)) unnamed.push(`realtime-jobs${entry.slice(1)}: ${name}`);
      }
    }
    expect(unnamed).toEqual([]);
  });

  it('lists every option of each options interface where that function is documented', () => {
    const missing: string[] = [];
    for (const [source, name, docFile] of OPTIONS) {
      const doc = readFileSync(join(ROOT, docFile), 'utf8');
      for (const field of fieldsOf(source, name)) {
        // `field`, `field(…)`, `field: …`, `owner.field…` or `await field(…)` in code formatting, or
        // `owner.field` in a code block.
        const named = new RegExp(`\`(?:await )?(?:[\\w.]*\\.)?${field}[\`(:]|\\w\\.${field}\\b`);
        if (!named.test(doc)) {
          missing.push(`${name}.${field} in ${docFile}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('lists every environment variable the reference app reads, and only those, in its table', () => {
    const sources = ['lib/config.ts', 'start.ts', 'server.ts'].map((file) =>
      readFileSync(join(ROOT, 'examples/admin-app', file), 'utf8'),
    );
    const read = new Set(
      sources.flatMap((text) =>
        [...text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)|\(env, '([A-Z][A-Z0-9_]+)'/g)].map((m) => (m[1] ?? m[2]) as string),
      ),
    );
    // Not settings: LOGIN_MAX_FAILURES is read only to refuse it (saying what replaced it), and start.ts
    // sets DEDALUS_STANDIN for the instances it starts.
    for (const name of ['LOGIN_MAX_FAILURES', 'DEDALUS_STANDIN']) read.delete(name);
    const doc = readFileSync(join(ROOT, 'docs/reference-app.md'), 'utf8');
    const table = doc.slice(doc.indexOf('## Configuration'), doc.indexOf('## Where to look in the code'));
    const listed = new Set(
      [...table.matchAll(/^\| ([^|]*)\|/gm)].flatMap((row) =>
        [...(row[1] as string).matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string),
      ),
    );
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
    expect([...listed].filter((name) => !read.has(name)).sort()).toEqual([]);
  });

  it('states the bundle budgets of .size-limit.json', () => {
    const limits = JSON.parse(readFileSync(join(ROOT, '.size-limit.json'), 'utf8')) as Array<{
      path: string;
      limit: string;
    }>;
    const element = readFileSync(join(ROOT, 'docs/element.md'), 'utf8');
    const list = readFileSync(join(ROOT, 'docs/job-list.md'), 'utf8');
    const budget = (path: string) => {
      const limit = limits.find((entry) => entry.path === path)?.limit ?? '';
      return `${Number.parseFloat(limit)} kB`;
    };
    const tile = budget('dist/browser/realtime-jobs.js');
    const both = budget('dist/browser/realtime-jobs-list.js');
    expect(element).toContain(`budget ${tile}`);
    expect(element).toContain(`budget ${both}`);
    expect(list).toContain(`bundle's budget (${tile})`);
    expect(list).toMatch(new RegExp(`\\| \`realtime-jobs\\.js\` .*\\| ${tile} +\\|`));
    expect(list).toMatch(new RegExp(`\\| \`realtime-jobs-list\\.js\` .*\\| ${both} +\\|`));
  });
});
