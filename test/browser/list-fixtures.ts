import type { Page } from 'playwright-core';
import type { JobRegistry } from '../../src/core/registry.js';
import type { JobContext } from '../../src/core/runner.js';
import { PREFIX } from './server.js';

/** A page around some body markup, loading the list bundle (or none, to load it later). */
export function listPageHtml(body: string, script: string | null = '/realtime-jobs-list.js'): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jobs</title>
<meta name="realtime-jobs-endpoint" content="${PREFIX}">
<style>body{font:16px/1.4 system-ui,sans-serif;margin:24px;width:1100px}</style>
</head><body><main>${body}</main>${script ? `<script type="module" src="${script}"></script>` : ''}</body></html>`;
}

/**
 * Job definitions with work the tests steer: `deploy` runs until cancelled (and logs), `import` fails,
 * `publish` waits for approval, then succeeds with a result. `tail(id)` is the running work's context,
 * to write log lines from the test.
 */
export function defineTestJobs(registry: JobRegistry): { tail(id: string): JobContext } {
  const running = new Map<string, JobContext>();
  registry.define('deploy', async (ctx) => {
    running.set(ctx.jobId, ctx);
    await ctx.log('Deploy started');
    await ctx.progress(0.25, { message: 'Copying files' });
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    return { copied: 1 };
  });
  registry.define('import', async (ctx) => {
    await ctx.log(`Importing ${String(ctx.input.file)}`);
    await ctx.log('The disk is full', { level: 'error' });
    throw Object.assign(new Error('No space left on the device'), { code: 'ENOSPC' });
  });
  registry.define('publish', async (ctx) => {
    if (!ctx.approval) {
      ctx.awaitApproval(`Publish ${String(ctx.input.site)}?`);
      return;
    }
    return { published: true, by: ctx.approval.by };
  });
  return {
    tail(id) {
      const ctx = running.get(id);
      if (!ctx) throw new Error(`job ${id} is not running`);
      return ctx;
    },
  };
}

/** What the table of the `<job-list>` shows (shadow or server markup), row by row. */
export function readRows(page: Page, selector = 'job-list') {
  return page.$eval(selector, (list) => {
    const root = list.shadowRoot ?? list;
    return [...root.querySelectorAll('tbody tr[data-job-id]')].map((row) => ({
      id: row.getAttribute('data-job-id'),
      state: row.querySelector('.rj-badge')?.textContent ?? null,
      category: row.querySelector('th')?.textContent ?? null,
      cells: [...row.querySelectorAll('td')].slice(1, 4).map((cell) => cell.textContent),
    }));
  });
}

export const rowIds = async (page: Page) => (await readRows(page)).map((row) => row.id);

/** Waits for the element to have upgraded and rendered its table. */
export async function upgraded(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelector('job-list')?.shadowRoot?.querySelector('table'), null, {
    timeout: 10_000,
    polling: 50,
  });
}
