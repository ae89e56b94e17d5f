// The docs name everything the package exports, and state the bundle budgets the build enforces:
// an export added without a word in the docs, or a budget raised without the docs following, fails here.
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
