import { JobsError } from '../../protocol/errors.js';
import type { Job } from '../../protocol/job.js';
import { invalid, JobFeedError } from './errors.js';
import { coversFilter, matchesFilter, type NormalFilter, normalizeFilter, unionFilters } from './filter.js';
import { HeldJobs } from './held-jobs.js';
import { FeedMachine, type MachineListener } from './machine.js';
import { type JobFeedOptions, readFeedOptions } from './options.js';
import { type FeedSource, shareTabs, tabLocks } from './tabs.js';
import type { JobFeed, JobFeedConnection, JobFeedState } from './types.js';

interface Subscription {
  filter: NormalFilter;
  callback: (job: Job) => void;
}

/**
 * Opens one live connection to the job routes and shares it among any number of subscriptions. It
 * streams over `fetch` (cookies included), resumes exactly with `Last-Event-ID`, reconnects with
 * backoff and jitter, polls the list route whenever the stream is down (whatever the cause), pauses
 * while the page is hidden, and stops when the server refuses it (401 / 403, or `denied`). Works in
 * browsers and in Node.
 *
 * @example
 * const feed = createJobFeed({ url: '/api/admin/jobs' });
 * const off = feed.subscribe({ category: 'sync-push' }, (job) => console.log(job.state, job.progress));
 * feed.onConnectionChange((connection) => banner.hidden = connection === 'live');
 */
export function createJobFeed(options: JobFeedOptions): JobFeed {
  const settings = readFeedOptions(options);
  const subscriptions = new Set<Subscription>();
  const stateListeners = new Set<(state: JobFeedState) => void>();
  const connectionListeners = new Set<(connection: JobFeedConnection) => void>();
  let lastError: JobFeedError | null = null;
  let reconcileQueued = false;

  const report = (error: JobFeedError) => {
    lastError = error;
    options.onError?.(error);
  };
  const held = new HeldJobs((job) => {
    for (const subscription of subscriptions) {
      if (!matchesFilter(subscription.filter, job)) continue;
      try {
        subscription.callback(job);
      } catch (error) {
        report(new JobFeedError('callback', `A subscriber threw: ${(error as Error)?.message}`));
      }
    }
  });
  const listener: MachineListener = {
    state(state) {
      options.onStateChange?.(state);
      for (const listener of stateListeners) listener(state);
    },
    connection(connection) {
      for (const listener of connectionListeners) listener(connection);
    },
    error: report,
    job: (job, fromSnapshot) => held.apply(job, fromSnapshot),
    snapshot: (filter, carried) => held.forgetMissing(filter, carried),
  };
  // One stream for all tabs of the origin where the page can coordinate them; else one for this tab.
  const locks = settings.share ? tabLocks() : undefined;
  const machine: FeedSource = locks ? shareTabs(settings, listener, locks) : new FeedMachine(settings, listener);

  /** What every subscription together wants, or null when there is none. */
  const wanted = () =>
    subscriptions.size > 0 ? unionFilters([...subscriptions].map((subscription) => subscription.filter)) : null;

  /** Runs once per batch of subscription changes: a page adding 20 tiles at once connects once. */
  function reconcile(): void {
    reconcileQueued = false;
    const filter = wanted();
    const current = machine.filter;
    if (filter && !(current && coversFilter(current, filter) && machine.state !== 'idle')) machine.run(filter);
  }

  const doc = settings.document;
  const onVisibility = () => {
    if (doc?.visibilityState === 'hidden') machine.pause();
    else machine.resume();
  };
  // Leaving the page (maybe into the back/forward cache) or being frozen: nothing may stay open.
  const onHide = () => machine.pause(true);
  // Each source checks visibility itself when it comes back.
  const onShow = () => machine.resume();
  const lifecycle = [
    [doc, 'visibilitychange', onVisibility],
    [globalThis.document, 'freeze', onHide],
    [globalThis.document, 'resume', onShow],
    [globalThis.window, 'pagehide', onHide],
    [globalThis.window, 'pageshow', onShow],
  ] as const;
  for (const [target, type, handler] of lifecycle) target?.addEventListener?.(type, handler);

  return {
    subscribe(filter, callback) {
      if (machine.state === 'closed') throw new JobsError('closed', 'createJobFeed: this feed is closed');
      if (typeof callback !== 'function') invalid('callback', 'must be a function');
      const subscription: Subscription = { filter: normalizeFilter(filter), callback };
      subscriptions.add(subscription);
      const known = held.matching(subscription.filter);
      queueMicrotask(() => {
        for (const job of known) if (subscriptions.has(subscription) && held.holds(job)) callback(job);
      });
      if (!reconcileQueued) {
        reconcileQueued = true;
        queueMicrotask(reconcile);
      }
      return () => {
        if (!subscriptions.delete(subscription) || subscriptions.size > 0) return;
        // Decided at the end of the task: a page that swaps its tiles for new ones (a fragment
        // refreshed: the old elements unsubscribe, the new ones subscribe) and wants exactly what the
        // feed follows keeps its connection and resume point. Anything else starts over, as before.
        queueMicrotask(() => {
          const filter = wanted();
          const current = machine.filter;
          if (filter && current && coversFilter(filter, current) && coversFilter(current, filter)) return;
          machine.idle();
          if (filter) machine.run(filter);
        });
      };
    },
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    onConnectionChange(listener) {
      connectionListeners.add(listener);
      return () => connectionListeners.delete(listener);
    },
    reconnect() {
      machine.reconnect(wanted());
    },
    close() {
      machine.close();
      subscriptions.clear();
      for (const [target, type, handler] of lifecycle) target?.removeEventListener?.(type, handler);
    },
    get state() {
      return machine.state;
    },
    get connection() {
      return machine.connection;
    },
    get error() {
      return lastError;
    },
  };
}
