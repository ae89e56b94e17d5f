import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listRoutes } from '../../../test/browser/list-routes.js';
import { waitFor } from '../../../test/support/wait.js';
import { jobsRouter } from '../../adapters/express.js';
import { createJobRegistry } from '../../core/registry.js';
import type { JobContext } from '../../core/runner.js';
import type { LogLine } from '../../protocol/job.js';
import { createJobFeed, type JobFeedError } from './index.js';

// The feed's `onLog` option against real log streams (`logs=1`, the list routes of the contract).
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve() {
  const registry = await createJobRegistry({ onError: () => {} });
  const requests: Array<{ url: URL; lastEventId: string | undefined }> = [];
  const app = express();
  const router = jobsRouter(registry, { allowAnonymous: true, retryMs: 20 });
  const routes = listRoutes(registry, { retryMs: 20 });
  app.use('/jobs/events', (req, _res, next) => {
    requests.push({ url: new URL(req.originalUrl, 'http://x'), lastEventId: req.get('last-event-id') });
    next();
  });
  app.use('/jobs', routes.router, router);
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  cleanups.push(async () => {
    await registry.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  let ctx: JobContext | undefined;
  const job = await registry.run({ category: 'tail' }, async (context) => {
    ctx = context;
    await context.log('one');
    await context.log('two', { level: 'warn' });
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
  });
  await waitFor(() => registry.logs(job.id).length === 2, 'two lines');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jobs`,
    registry,
    routes,
    requests,
    job,
    ctx: () => ctx as JobContext,
  };
}

function follow(url: string, jobId: string, extra: Parameters<typeof createJobFeed>[0] | object = {}) {
  const batches: Array<[string, LogLine[]]> = [];
  const errors: JobFeedError[] = [];
  const feed = createJobFeed({
    url,
    onLog: (id, lines) => batches.push([id, lines]),
    onError: (error) => errors.push(error),
    ...extra,
  });
  feed.subscribe({ jobId }, () => {});
  cleanups.push(() => feed.close());
  const texts = () => batches.flatMap(([, lines]) => lines.map((line) => line.text));
  return { feed, batches, errors, texts };
}

describe('onLog: a feed that follows log lines', () => {
  it('asks for logs=1, gets the kept lines at once, then each new line', async () => {
    const { url, job, ctx, requests } = await serve();
    const { batches, texts } = follow(url, job.id);
    await waitFor(() => texts().length === 2, 'the snapshot’s lines');
    expect(requests[0]?.url.search).toBe(`?logs=1&job_id=${job.id}`);
    expect(batches).toEqual([
      [
        job.id,
        [
          expect.objectContaining({ seq: 1, text: 'one', level: 'info' }),
          expect.objectContaining({ seq: 2, text: 'two', level: 'warn' }),
        ],
      ],
    ]);
    await ctx().log('three');
    await waitFor(() => texts().length === 3, 'the live line');
    expect(batches[1]?.[1].map((line) => [line.seq, line.text])).toEqual([[3, 'three']]);
  });

  it('resumes after a dropped stream from the last live line, without repeating it', async () => {
    const { url, job, ctx, requests, routes } = await serve();
    const { feed, texts } = follow(url, job.id);
    await waitFor(() => feed.state === 'streaming' && texts().length === 2, 'streaming');
    await ctx().log('three');
    await waitFor(() => texts().length === 3, 'the live line');
    routes.closeStreams();
    await ctx().log('four'); // written while the feed is away
    await waitFor(() => texts().length === 4, 'the replayed line');
    expect(requests[1]?.lastEventId).toMatch(/-/);
    expect(requests[1]?.url.searchParams.get('logs')).toBe('1');
    expect(texts()).toEqual(['one', 'two', 'three', 'four']);
  });

  it('does not ask for lines without onLog, checks the option, and survives a listener that throws', async () => {
    const { url, job, ctx, requests } = await serve();
    const plain = createJobFeed({ url });
    cleanups.push(() => plain.close());
    const seen: string[] = [];
    plain.subscribe({ jobId: job.id }, (each) => seen.push(each.id));
    await waitFor(() => seen.length === 1, 'the job');
    expect(requests[0]?.url.search).toBe(`?job_id=${job.id}`);
    expect(() => createJobFeed({ url, onLog: 'yes' as never })).toThrow('createJobFeed: `onLog` must be a function');

    let calls = 0;
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => unhandled.push(error);
    process.on('uncaughtException', onUnhandled);
    cleanups.push(() => process.off('uncaughtException', onUnhandled));
    const { feed } = follow(url, job.id, {
      onLog: () => {
        calls++;
        throw new Error('a broken listener');
      },
    });
    await waitFor(() => calls === 1 && feed.state === 'streaming', 'the first batch');
    await ctx().log('three');
    await waitFor(() => calls === 2, 'the next line, on the same stream');
    expect(requests.filter((request) => request.url.searchParams.get('logs') === '1')).toHaveLength(1);
    expect(unhandled).toHaveLength(2);
  });
});
