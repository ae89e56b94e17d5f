// Tabs sharing one stream, in one process: each "tab" is a feed created with its own fake document,
// all of them on Node's real BroadcastChannel and a small Web Locks fake, against the real job routes.
// Chromium runs the same over HTTP/1.1 in test/browser/tabs.test.ts.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/wait.js';
import { toNodeHandler } from '../../adapters/node.js';
import { createJobsEndpoint } from '../../core/http/endpoint.js';
import { createJobRegistry } from '../../core/registry.js';
import type { Job } from '../../protocol/job.js';
import { createJobFeed, type JobFeed, type JobFeedFilter } from './index.js';

type Grant = (lock: { name: string } | null) => unknown;

/** Exclusive Web Locks, as far as the feed uses them: a queue per name, `ifAvailable`, `signal`. */
class FakeLocks {
  readonly #held = new Set<string>();
  readonly #waiting = new Map<string, Array<() => void>>();

  request(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, grant: Grant): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const take = () => {
        this.#held.add(name);
        Promise.resolve(grant({ name }))
          .finally(() => {
            this.#held.delete(name);
            this.#waiting.get(name)?.shift()?.();
          })
          .then(resolve, reject);
      };
      const queue = this.#waiting.get(name) ?? [];
      this.#waiting.set(name, queue);
      if (!this.#held.has(name) && queue.length === 0) return queueMicrotask(take);
      if (options.ifAvailable) return queueMicrotask(() => Promise.resolve(grant(null)).then(resolve, reject));
      queue.push(take);
      options.signal?.addEventListener('abort', () => {
        const at = queue.indexOf(take);
        if (at < 0) return;
        queue.splice(at, 1);
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let locks: Pick<FakeLocks, 'request'> | undefined;
beforeEach(() => {
  locks = new FakeLocks();
  const saved = ['document', 'navigator'].map(
    (key) => [key, Object.getOwnPropertyDescriptor(globalThis, key)] as const,
  );
  Object.defineProperty(globalThis, 'navigator', { get: () => ({ locks }), configurable: true });
  cleanups.push(() => {
    for (const [key, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, key, descriptor);
      else delete (globalThis as Record<string, unknown>)[key];
    }
  });
});

async function realServer() {
  const registry = await createJobRegistry({ onError: () => {} });
  const endpoint = createJobsEndpoint<IncomingMessage>(registry, {
    authorize: () => ({ id: 'admin', scopes: ['admin'] }),
    retryMs: 20,
    throttleMs: 0,
  });
  const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
  const streams: Array<string | undefined> = [];
  const urls: string[] = [];
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/jobs/events')) {
      streams.push(req.headers['last-event-id'] as string | undefined);
      urls.push(req.url);
    }
    void handle(req, res, req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await registry.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jobs`, registry, endpoint, streams, urls };
}

interface Tab {
  doc: EventTarget & { visibilityState: DocumentVisibilityState };
  feed: JobFeed;
  seen: Job[];
  show(visible: boolean): void;
}

/** A tab: a feed made while `document` is this tab's own, subscribed with `filter`. */
function openTab(url: string, filter: JobFeedFilter, options: { shareAcrossTabs?: boolean } = {}): Tab {
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
  Object.defineProperty(globalThis, 'document', { value: doc, configurable: true });
  const feed = createJobFeed({ url, ...options });
  cleanups.push(() => feed.close());
  const seen: Job[] = [];
  feed.subscribe(filter, (job) => seen.push(job));
  return {
    doc,
    feed,
    seen,
    show(visible) {
      doc.visibilityState = visible ? 'visible' : 'hidden';
      doc.dispatchEvent(new Event('visibilitychange'));
    },
  };
}

const streaming = (tab: Tab, what: string) => waitFor(() => tab.feed.state === 'streaming', what);
const versionsOf = (seen: Job[], id: string) => seen.filter((job) => job.id === id).map((job) => job.version);

describe('tabs sharing one stream', () => {
  it('two tabs, one stream: the leader widens it for the other tab, and each tab gets only its own jobs', async () => {
    const { url, registry, endpoint } = await realServer();
    const first = openTab(url, { category: 'alpha' });
    await streaming(first, 'the first tab streams');
    const second = openTab(url, { category: 'beta' });
    await streaming(second, 'the second tab follows');
    const alpha = await registry.enqueue({ category: 'alpha' });
    const beta = await registry.enqueue({ category: 'beta' });
    await waitFor(() => first.seen.length === 1 && second.seen.length === 1, 'each tab its job');
    expect(first.seen.map((job) => job.id)).toEqual([alpha.id]);
    expect(second.seen.map((job) => job.id)).toEqual([beta.id]);
    expect(endpoint.openStreams).toBe(1);
  });

  it('a tab that joins late holds the jobs at once (one list request), without a stream of its own', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const job = await registry.enqueue({ category: 'alpha' });
    const first = openTab(url, { category: 'alpha' });
    await streaming(first, 'the first tab streams');
    // Covered by the leader's stream: no new stream, the list once.
    const late = openTab(url, { category: 'alpha' });
    await waitFor(() => late.seen[0]?.id === job.id, 'the late tab holds the job');
    expect(streams).toHaveLength(1);
    expect(endpoint.openStreams).toBe(1);
  });

  it('the leader leaving (pagehide, freeze): the next tab resumes from the last id seen, and no update is lost', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const job = await registry.enqueue({ category: 'alpha' });
    const leader = openTab(url, { category: 'alpha' });
    await streaming(leader, 'the leader streams');
    const follower = openTab(url, { category: 'alpha' });
    await streaming(follower, 'the follower follows');
    await registry.update(job.id, { state: 'running', progress: 0.1 });
    await waitFor(() => follower.seen.at(-1)?.progress === 0.1, 'the follower saw 0.1');
    const lastSeen = streams.length;

    leader.doc.dispatchEvent(new Event('freeze'));
    for (const progress of [0.2, 0.3, 0.4]) await registry.update(job.id, { progress });
    await waitFor(() => follower.seen.at(-1)?.progress === 0.4, 'the follower caught up');
    expect(streams).toHaveLength(lastSeen + 1);
    expect(streams.at(-1)).toBeDefined();
    // Version 1 came from the list, unless version 2 overtook it (then it is not news): 2 to 5, each once.
    expect(versionsOf(follower.seen, job.id).filter((version) => version > 1)).toEqual([2, 3, 4, 5]);
    await waitFor(() => endpoint.openStreams === 1, 'one stream');

    // Back from the freeze it follows again, and catches up with the list once.
    leader.doc.dispatchEvent(new Event('resume'));
    await registry.update(job.id, { state: 'success' });
    await waitFor(() => leader.seen.at(-1)?.state === 'success', 'the old leader follows again');
    expect(endpoint.openStreams).toBe(1);
  });

  it('a hidden leader hands over to a visible tab; with every tab hidden no stream is open', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const job = await registry.enqueue({ category: 'alpha' });
    const one = openTab(url, { category: 'alpha' });
    await streaming(one, 'the first tab streams');
    const two = openTab(url, { category: 'alpha' });
    await streaming(two, 'the second follows');

    one.show(false);
    await waitFor(() => streams.length === 2 && endpoint.openStreams === 1, 'the visible tab took over');
    await registry.update(job.id, { progress: 0.5 });
    // The hidden tab still follows: it gets the change over the channel.
    await waitFor(() => one.seen.at(-1)?.progress === 0.5, 'the hidden tab follows');

    two.show(false);
    await waitFor(() => endpoint.openStreams === 0, 'no stream while every tab is hidden');
    expect(one.feed.state).toBe('paused');
    await registry.update(job.id, { progress: 0.7 });

    two.show(true);
    await waitFor(() => one.seen.at(-1)?.progress === 0.7, 'caught up from the last id');
    expect(streams).toHaveLength(3);
    expect(streams.at(-1)).toBeDefined();
    expect(versionsOf(one.seen, job.id)).toEqual([1, 2, 3]);
  });

  it('a tab alone that goes idle asks for exactly what it wants next, from a snapshot, as one tab does', async () => {
    const { url, urls, streams } = await realServer();
    const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
    Object.defineProperty(globalThis, 'document', { value: doc, configurable: true });
    const feed = createJobFeed({ url });
    cleanups.push(() => feed.close());
    const off = feed.subscribe({ category: 'alpha' }, () => {});
    await waitFor(() => feed.state === 'streaming', 'streams for alpha');
    off();
    await Promise.resolve(); // the feed goes idle at the end of the task
    feed.subscribe({ category: 'beta' }, () => {});
    await waitFor(() => urls.length === 2 && feed.state === 'streaming', 'streams for beta');
    expect(urls).toEqual(['/jobs/events?category=alpha', '/jobs/events?category=beta']);
    expect(streams).toEqual([undefined, undefined]);
  });

  it('falls back to a stream per tab without Web Locks, and with shareAcrossTabs: false', async () => {
    const { url, endpoint } = await realServer();
    const shared = openTab(url, {}, { shareAcrossTabs: false });
    const alone = openTab(url, {}, { shareAcrossTabs: false });
    await waitFor(() => endpoint.openStreams === 2, 'two streams when sharing is off');
    locks = undefined;
    const third = openTab(url, {});
    await streaming(third, 'a tab without locks streams');
    expect(endpoint.openStreams).toBe(3);
    expect([shared.feed.state, alone.feed.state]).toEqual(['streaming', 'streaming']);
  });

  it('a tab whose lock requests are refused (an opaque origin) streams on its own', async () => {
    const { url, endpoint } = await realServer();
    locks = { request: () => Promise.reject(new DOMException('opaque origin', 'SecurityError')) };
    const tab = openTab(url, {});
    await streaming(tab, 'streams without the lock');
    expect(endpoint.openStreams).toBe(1);
  });

  it('leaving into the back/forward cache (pagehide) closes the stream; pageshow catches up exactly', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const job = await registry.enqueue({ category: 'alpha' });
    const win = new EventTarget();
    Object.defineProperty(globalThis, 'window', { value: win, configurable: true });
    cleanups.push(() => delete (globalThis as { window?: unknown }).window);
    for (const shareAcrossTabs of [true, false]) {
      const tab = openTab(url, {}, { shareAcrossTabs });
      await streaming(tab, 'streams');
      const before = streams.length;
      win.dispatchEvent(new Event('pagehide'));
      await waitFor(() => endpoint.openStreams === 0, `no stream kept in the cache (sharing ${shareAcrossTabs})`);
      await registry.update(job.id, { progress: shareAcrossTabs ? 0.1 : 0.2 });
      win.dispatchEvent(new Event('pageshow'));
      await waitFor(() => tab.seen.at(-1)?.progress === (shareAcrossTabs ? 0.1 : 0.2), 'caught up');
      await waitFor(() => endpoint.openStreams === 1, 'one stream again');
      expect(streams.slice(before)).toHaveLength(1);
      expect(streams.at(-1)).toBeDefined();
      tab.feed.close();
    }
  });

  it('a tab on its own lets go of its stream on freeze (or pagehide) and resumes exactly after', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const job = await registry.enqueue({ category: 'alpha' });
    const tab = openTab(url, {}, { shareAcrossTabs: false });
    await streaming(tab, 'streams');
    tab.doc.dispatchEvent(new Event('freeze'));
    await waitFor(() => endpoint.openStreams === 0, 'stream closed while frozen');
    await registry.update(job.id, { progress: 0.3 });
    tab.doc.dispatchEvent(new Event('resume'));
    await waitFor(() => tab.seen.at(-1)?.progress === 0.3, 'caught up');
    expect(streams).toHaveLength(2);
    expect(streams[1]).toBeDefined();
  });
});
