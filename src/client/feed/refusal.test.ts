// 401 / 403 and the `denied` event stop the feed until reconnect(); on fake timers and scripted routes.
import { describe, expect, it } from 'vitest';
import {
  advance,
  frame,
  html,
  job,
  json,
  POLL_MS,
  scriptedRoutes,
  settle,
  startFeed,
  useFakeClock,
} from '../../../test/support/scripted-routes.js';

useFakeClock();

describe('the server refuses the feed', () => {
  it('401 on the stream: `denied`, `offline`, and nothing is retried for ten minutes until reconnect()', async () => {
    const routes = scriptedRoutes();
    routes.onStream = json(401, 'unauthorized');
    const { feed, errors } = await startFeed(routes);
    expect(feed.state).toBe('denied');
    expect(feed.connection).toBe('offline');
    expect(errors.map((error) => [error.code, error.status, error.message])).toEqual([['unauthorized', 401, 'a 401']]);
    await advance(10 * 60_000);
    expect(routes.streamRequests).toHaveLength(1);
    expect(routes.listRequests).toHaveLength(0);

    routes.onStream = routes.healthy;
    feed.reconnect();
    await settle();
    expect(feed.state).toBe('streaming');
    expect(feed.connection).toBe('live');
  });

  it('403 on a poll stops polling too', async () => {
    const routes = scriptedRoutes();
    routes.onStream = html(502);
    routes.onList = json(403, 'forbidden');
    const { feed, errors } = await startFeed(routes);
    await advance(POLL_MS);
    expect(feed.state).toBe('denied');
    expect(errors.at(-1)?.code).toBe('forbidden');
    await advance(10 * 60_000);
    expect(routes.listRequests).toHaveLength(1);
    expect(routes.streamRequests).toHaveLength(1);
  });

  for (const reason of ['unauthorized', 'forbidden'] as const) {
    it(`the \`denied\` event (${reason}) stops the feed like a ${reason === 'unauthorized' ? 401 : 403}`, async () => {
      const routes = scriptedRoutes();
      routes.jobs.set('job-1', job({}));
      const { feed, errors } = await startFeed(routes);
      expect(feed.state).toBe('streaming');
      routes.stream.send(frame('denied', { reason }));
      await settle();
      expect(feed.state).toBe('denied');
      expect(feed.connection).toBe('offline');
      expect(errors.map((error) => error.code)).toEqual([reason]);
      expect(feed.error?.code).toBe(reason);
      expect(routes.streamRequests[0]?.signal.aborted).toBe(true); // the connection was let go
      await advance(10 * 60_000);
      expect(routes.streamRequests).toHaveLength(1);
      expect(routes.listRequests).toHaveLength(0);
      feed.reconnect();
      await settle();
      expect(routes.streamRequests).toHaveLength(2);
      expect(feed.state).toBe('streaming');
    });
  }
});
