import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait.js';
import { jobsRouter } from '../../adapters/express.js';
import { createJobRegistry } from '../../core/registry.js';
import type { JobContext } from '../../core/runner.js';
import type { Job, LogLine } from '../../protocol/job.js';
import { followJobLog, type LogFollowState } from './log-follower.js';

// followJobLog against real log streams (`logs=1` on the job routes) over HTTP.
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jobs`;
}

async function serve() {
  const registry = await createJobRegistry({ onError: () => {} });
  cleanups.push(() => registry.close());
  const requests: Array<{ url: URL; lastEventId: string | undefined }> = [];
  const app = express();
  const routes = jobsRouter(registry, { allowAnonymous: true, retryMs: 20 });
  app.use('/jobs/events', (req, _res, next) => {
    requests.push({ url: new URL(req.originalUrl, 'http://x'), lastEventId: req.get('last-event-id') });
    next();
  });
  app.use('/jobs', routes);
  const url = await listen(createServer(app));
  let ctx: JobContext | undefined;
  const job = await registry.run({ category: 'tail' }, async (context) => {
    ctx = context;
    await context.log('one');
    await context.log('two', { level: 'warn' });
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
  });
  await waitFor(() => registry.logs(job.id).length === 2, 'two lines');
  return { url, registry, routes, requests, job, ctx: () => ctx as JobContext };
}

function follow(url: string, jobId: string) {
  const batches: LogLine[][] = [];
  const jobs: Job[] = [];
  const states: LogFollowState[] = [];
  const stop = followJobLog(url, jobId, {
    lines: (lines) => batches.push(lines as LogLine[]),
    job: (job) => jobs.push(job),
    state: (state) => states.push(state),
  });
  cleanups.push(stop);
  const texts = () => batches.flat().map((line) => line.text);
  return { batches, jobs, states, texts, stop };
}

describe('followJobLog', () => {
  it('asks for logs=1 of the one job, gets the kept lines at once, then each new line and change', async () => {
    const { url, job, ctx, requests, registry } = await serve();
    const { batches, jobs, states, texts } = follow(url, job.id);
    await waitFor(() => texts().length === 2 && states.includes('live'), 'the snapshot’s lines');
    expect(requests[0]?.url.search).toBe(`?logs=1&job_id=${job.id}`);
    expect(batches[0]?.map((line) => [line.seq, line.level, line.text])).toEqual([
      [1, 'info', 'one'],
      [2, 'warn', 'two'],
    ]);
    expect(jobs[0]?.id).toBe(job.id);
    await ctx().log('three');
    await waitFor(() => texts().length === 3, 'the live line');
    expect(batches[1]?.map((line) => [line.seq, line.text])).toEqual([[3, 'three']]);
    await registry.update(job.id, { message: 'Halfway' });
    await waitFor(() => jobs.at(-1)?.message === 'Halfway', 'the job’s change');
  });

  it('resumes a dropped stream from the last event (Last-Event-ID), without repeating a line', async () => {
    const { url, job, ctx, requests, routes } = await serve();
    const { states, texts } = follow(url, job.id);
    await waitFor(() => states.includes('live') && texts().length === 2, 'live');
    await ctx().log('three');
    await waitFor(() => texts().length === 3, 'the live line');
    routes.closeStreams();
    await ctx().log('four'); // written while the follower is away
    await waitFor(() => texts().length === 4, 'the replayed line');
    expect(states).toEqual(['live', 'reconnecting', 'live']);
    expect(requests[1]?.lastEventId).toMatch(/-/);
    expect(texts()).toEqual(['one', 'two', 'three', 'four']);
  });

  it('stops when the server refuses it, and when told to', async () => {
    let asked = 0;
    const refusing = await listen(
      createServer((_req, res) => {
        asked++;
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'Log in to see jobs' } }));
      }),
    );
    const refused = follow(refusing, 'job-1');
    await waitFor(() => refused.states.includes('stopped'), 'stopped');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(asked).toBe(1);

    const { url, job, ctx, routes } = await serve();
    const { stop, texts } = follow(url, job.id);
    await waitFor(() => texts().length === 2 && routes.openStreams === 1, 'the snapshot');
    stop();
    await waitFor(() => routes.openStreams === 0, 'the stream to close');
    await ctx().log('three');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(texts()).toHaveLength(2);
  });
});
