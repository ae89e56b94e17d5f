// Whatever makes the stream fail, the feed polls within one interval and goes back to live; on fake
// timers and scripted routes (test/support/scripted-routes.ts).
import { describe, expect, it } from 'vitest';
import {
  advance,
  FIRST_RETRY_MS,
  HEARTBEAT_MS,
  html,
  job,
  json,
  POLL_MS,
  refused,
  scriptedRoutes,
  settle,
  startFeed,
  useFakeClock,
} from '../../../test/support/scripted-routes.js';

useFakeClock();

describe('the feed goes live', () => {
  it('streams: state `streaming`, connection `live`, no poll', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({}));
    const { feed, seen } = await startFeed(routes);
    expect(feed.state).toBe('streaming');
    expect(feed.connection).toBe('live');
    expect(seen.map((each) => each.id)).toEqual(['job-1']);
    routes.update(job({ version: 2, state: 'success' }));
    await settle();
    expect(seen.at(-1)?.state).toBe('success');
    await advance(10 * POLL_MS);
    expect(routes.listRequests).toHaveLength(0);
  });
});

/** Ways a stream fails to open: the routes answer every stream request so while `broken` holds. */
const openFailures: Array<[string, () => Response | Promise<Response>, string]> = [
  ['a network error (connection refused)', refused, 'network'],
  ['404', json(404, 'not_found'), 'http'],
  ['500', json(500, 'internal_error'), 'http'],
  ['502 from a proxy (HTML)', html(502), 'http'],
  ['429', json(429, 'too_many_requests'), 'http'],
  ['an HTML page with 200 (a login page)', html(200), 'http'],
];

/** Ways a live stream is lost. */
const liveFailures: Array<[string, (routes: ReturnType<typeof scriptedRoutes>) => Promise<void>, string]> = [
  ['a connection reset mid-stream', async (routes) => routes.stream.reset(), 'network'],
  ['a stream the server ends', async (routes) => routes.stream.end(), 'network'],
  ['a stream that goes silent past 2.5 heartbeats', () => advance(2.5 * HEARTBEAT_MS), 'network'],
];

describe('any failure of the stream switches to polling within one interval, and back to live', () => {
  for (const [name, answer, code] of openFailures) {
    it(`when the stream answers ${name}`, async () => {
      const routes = scriptedRoutes();
      routes.jobs.set('job-1', job({}));
      routes.onStream = answer;
      const { feed, errors, connections, latest } = await startFeed(routes);
      expect(routes.streamRequests).toHaveLength(1);
      expect(errors.map((error) => error.code)).toEqual([code]);
      expect(feed.state).toBe('connecting');
      expect(routes.listRequests).toHaveLength(0);

      await advance(POLL_MS - 1);
      expect(routes.listRequests).toHaveLength(0);
      await advance(1);
      expect(routes.listRequests).toHaveLength(1);
      expect(latest()?.id).toBe('job-1');
      expect(feed.state).toBe('polling');
      expect(feed.connection).toBe('polling');

      // The job ends while the stream is down: the next poll brings it.
      routes.update(job({ version: 2, state: 'success' }));
      await advance(POLL_MS);
      expect(latest()?.state).toBe('success');
      // Stream attempts went on meanwhile (at 3 s, then 6 s later), and polls stop once one holds.
      expect(routes.streamRequests).toHaveLength(1);
      await advance(FIRST_RETRY_MS - 2 * POLL_MS);
      expect(routes.streamRequests).toHaveLength(2);
      routes.onStream = routes.healthy;
      await advance(2 * FIRST_RETRY_MS);
      expect(routes.streamRequests).toHaveLength(3);
      expect(feed.state).toBe('streaming');
      expect(connections).toEqual(['polling', 'live']);
      const polls = routes.listRequests.length;
      await advance(10 * POLL_MS);
      expect(routes.listRequests).toHaveLength(polls);
    });
  }

  for (const [name, fail, code] of liveFailures) {
    it(`when ${name}`, async () => {
      const routes = scriptedRoutes();
      routes.jobs.set('job-1', job({}));
      const { feed, errors, connections, latest } = await startFeed(routes);
      expect(feed.connection).toBe('live');
      // From now on every stream request is refused, so only polls can bring news.
      routes.onStream = refused;
      await fail(routes);
      await settle();
      const failedAt = Date.now();
      expect(errors[0]?.code).toBe(code);
      routes.update(job({ version: 2, state: 'error', message: 'failed while the stream was down' }));

      await advance(POLL_MS - 1);
      expect(routes.listRequests).toHaveLength(0);
      await advance(1);
      expect(Date.now() - failedAt).toBe(POLL_MS);
      expect(latest()?.state).toBe('error');
      expect(feed.connection).toBe('polling');
      expect(feed.state).toBe('polling');

      routes.onStream = routes.healthy;
      await advance(FIRST_RETRY_MS);
      expect(feed.state).toBe('streaming');
      expect(connections).toEqual(['polling', 'live']);
    });
  }

  it('when a stream request is never answered (a proxy holds it): silent past 2.5 heartbeats', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({ state: 'success' }));
    let released = false;
    routes.onStream = (signal) =>
      new Promise<Response>((_, reject) => {
        signal.addEventListener('abort', () => {
          released = true;
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    const { feed, errors, latest } = await startFeed(routes);
    await advance(2.5 * HEARTBEAT_MS - 1);
    expect(errors).toEqual([]);
    await advance(1);
    expect(released).toBe(true);
    expect(errors.map((error) => error.message)).toEqual(['The job stream went silent']);
    await advance(POLL_MS);
    expect(feed.connection).toBe('polling');
    expect(latest()?.state).toBe('success');
  });

  it('says `offline` while polls do not reach the server either, and `polling` once they do', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({}));
    const { feed, connections, latest } = await startFeed(routes);
    routes.onStream = refused;
    routes.onList = refused;
    routes.stream.reset();
    await advance(POLL_MS);
    expect(feed.connection).toBe('offline');
    expect(feed.state).toBe('polling');
    await advance(POLL_MS);
    expect(routes.listRequests).toHaveLength(2);

    routes.onList = routes.list;
    routes.update(job({ version: 2, state: 'success' }));
    await advance(POLL_MS);
    expect(feed.connection).toBe('polling');
    expect(latest()?.state).toBe('success');
    // The stream was retried at 3 s (refused), so the next attempt is 6 s later.
    routes.onStream = routes.healthy;
    await advance(2 * FIRST_RETRY_MS);
    expect(connections).toEqual(['offline', 'polling', 'live']);
  });

  it('polls with If-None-Match: an unchanged list costs a 304', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({}));
    routes.onStream = html(502);
    const { seen } = await startFeed(routes);
    await advance(3 * POLL_MS);
    const [first, second, third] = routes.listRequests;
    expect(first?.headers.get('if-none-match')).toBeNull();
    expect(second?.headers.get('if-none-match')).toMatch(/^W\//);
    expect(third?.headers.get('if-none-match')).toBe(second?.headers.get('if-none-match'));
    expect(first?.url.searchParams.get('limit')).toBe('100');
    expect(first?.url.searchParams.getAll('category')).toEqual(['sync-push']);
    expect(seen).toHaveLength(1);
  });

  it('backs off between stream attempts with the server’s `retry:`, doubling up to maxRetryMs', async () => {
    const routes = scriptedRoutes();
    const { feed } = await startFeed(routes, { maxRetryMs: 10_000 });
    routes.stream.send('retry: 2000\n\n');
    await settle();
    routes.onStream = refused;
    routes.stream.end();
    await settle();
    const attemptsAt: number[] = [];
    const startedAt = Date.now();
    for (let i = 0; i < 40; i++) {
      const before = routes.streamRequests.length;
      await advance(500);
      if (routes.streamRequests.length > before) attemptsAt.push(Date.now() - startedAt);
    }
    expect(attemptsAt).toEqual([2000, 6000, 14000]);
    expect(feed.state).toBe('polling');
  });

  it('after the last subscription ends, the next one starts over: `connecting` until a poll comes back', async () => {
    const routes = scriptedRoutes();
    routes.onStream = refused;
    const { feed, off } = await startFeed(routes);
    await advance(POLL_MS);
    expect(feed.state).toBe('polling');
    off();
    await Promise.resolve(); // the feed lets go at the end of the task
    expect(feed.state).toBe('idle');
    await advance(10 * POLL_MS);
    expect(routes.listRequests).toHaveLength(1);
    feed.subscribe({ category: 'sync-push' }, () => {});
    await settle();
    expect(feed.state).toBe('connecting');
    await advance(POLL_MS);
    expect(routes.listRequests).toHaveLength(2);
    expect(feed.state).toBe('polling');
  });

  it('reconnect() skips the backoff wait', async () => {
    const routes = scriptedRoutes();
    routes.onStream = refused;
    const { feed } = await startFeed(routes);
    routes.onStream = routes.healthy;
    feed.reconnect();
    await settle();
    expect(feed.state).toBe('streaming');
    expect(routes.streamRequests).toHaveLength(2);
  });
});
