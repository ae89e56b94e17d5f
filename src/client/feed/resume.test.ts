// Exact resume: which id the feed resumes from, and what a full snapshot replaces; on fake timers and
// scripted routes.
import { describe, expect, it } from 'vitest';
import {
  advance,
  FIRST_RETRY_MS,
  frame,
  job,
  type ScriptedStream,
  scriptedRoutes,
  settle,
  startFeed,
  useFakeClock,
} from '../../../test/support/scripted-routes.js';
import type { Job } from '../../protocol/job.js';

useFakeClock();

describe('exact resume', () => {
  it('resumes from the id `ready` carries, then from each live event’s own', async () => {
    const routes = scriptedRoutes();
    // An older server put the head on every snapshot frame: the feed must not rely on it either way.
    routes.scriptStreams((stream) =>
      stream.send(frame('job-update', job({}), 'snap-1'), frame('ready', { head: 'h-7' }, 'h-7')),
    );
    await startFeed(routes);
    routes.stream.send(frame('job-update', job({ version: 2 }), 'h-8'));
    await settle();
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    expect(routes.streamRequests.map((seen) => seen.headers.get('last-event-id'))).toEqual([null, 'h-8']);
  });

  it('takes `ready`’s head from its data when it carries no id', async () => {
    const routes = scriptedRoutes();
    routes.scriptStreams((stream) => stream.send(frame('job-update', job({})), frame('ready', { head: 'h-3' })));
    await startFeed(routes);
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    expect(routes.streamRequests[1]?.headers.get('last-event-id')).toBe('h-3');
  });

  it('a connection cut before `ready` keeps the previous resume point (a snapshot’s and a resync’s)', async () => {
    const routes = scriptedRoutes();
    const scripts: Array<(stream: ScriptedStream) => void> = [
      // 1: a snapshot cut short, its frames carrying ids as an older server sent them.
      (stream) => stream.send(frame('job-update', job({}), 'h-5')),
      // 2: starts over without Last-Event-ID, and completes.
      (stream) => stream.send(frame('job-update', job({}), 'h-5'), frame('ready', { head: 'h-5' }, 'h-5')),
      // 3: resumes from h-5, but the server resyncs and is cut mid-snapshot.
      (stream) => stream.send(frame('resync', { reason: 'restarted' }), frame('job-update', job({ version: 9 }))),
      // 4: must ask from h-5 again.
      (stream) => stream.send(frame('ready', { head: 'h-6' }, 'h-6')),
    ];
    routes.scriptStreams((stream, attempt) => scripts[attempt]?.(stream));
    const { feed } = await startFeed(routes);
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    expect(feed.state).toBe('streaming');
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    routes.stream.reset();
    await advance(2 * FIRST_RETRY_MS);
    expect(routes.streamRequests.map((seen) => seen.headers.get('last-event-id'))).toEqual([null, null, 'h-5', 'h-5']);
  });

  it('a replay’s events carry their own ids: a replay cut short resumes after the last one received', async () => {
    const routes = scriptedRoutes();
    const scripts: Array<(stream: ScriptedStream) => void> = [
      (stream) => stream.send(frame('ready', { head: 'h-1' }, 'h-1')),
      (stream) => stream.send(frame('job-update', job({ version: 2 }), 'h-2')),
      (stream) => stream.send(frame('ready', { head: 'h-2' }, 'h-2')),
    ];
    routes.scriptStreams((stream, attempt) => scripts[attempt]?.(stream));
    await startFeed(routes);
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    routes.stream.end(); // before `ready`: the second failure in a row, so the wait doubles
    await advance(2 * FIRST_RETRY_MS);
    expect(routes.streamRequests.map((seen) => seen.headers.get('last-event-id'))).toEqual([null, 'h-1', 'h-2']);
  });

  it('a stream opened without Last-Event-ID is a full snapshot: missing jobs are dropped, older versions taken', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({ version: 5, message: 'before the restart' }));
    routes.jobs.set('gone', job({ id: 'gone' }));
    const { feed, off } = await startFeed(routes);
    off(); // idle (at the end of the task): the next subscription starts from a snapshot
    await Promise.resolve();

    // The server restarted with a rebuilt log: job-1 went back to version 2, `gone` is gone.
    routes.jobs.clear();
    routes.jobs.set('job-1', job({ version: 2, message: 'after the restart' }));
    const seen: Job[] = [];
    feed.subscribe({ category: 'sync-push' }, (each) => seen.push(each));
    await settle();
    expect(routes.streamRequests[1]?.headers.get('last-event-id')).toBeNull();
    expect(seen.at(-1)?.message).toBe('after the restart');
    const late: Job[] = [];
    feed.subscribe({}, (each) => late.push(each));
    await settle();
    expect(late.map((each) => [each.id, each.version])).toEqual([['job-1', 2]]);
  });
});
