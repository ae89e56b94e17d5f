import { isTerminal } from '../protocol/job.js';
import type { JobFilter } from './filter.js';
import type { JobEvent, JobRegistry } from './registry.js';
import { Subscribers } from './subscribers.js';

/**
 * Where a stream takes its live events from: the registry itself, or a throttle in front of it. With
 * `logs`, log-line events come too.
 */
export type SubscribeEvents = (
  filter: JobFilter,
  listener: (event: JobEvent) => void,
  options?: { logs?: boolean },
) => () => void;

/**
 * One subscription to the registry shared by every stream of an endpoint, which lets progress-only
 * changes of a job go out at most once per `intervalMs`: a flood of `ctx.progress()` calls costs one
 * frame per stream per interval instead of one per call. The first change in a state goes out at once,
 * and so does every change of state, and so does any change after `intervalMs` without one: a quiet
 * job pays no latency, only a flood is coalesced. The newest held snapshot of a job is sent when the
 * interval since its last send ends (not a whole interval after it was held),
 * or just before any event that goes out at once, so the stream's ids always increase. The registry's replay buffer still holds every
 * event: a client that resumes misses nothing.
 */
export function createThrottledEvents(registry: JobRegistry, intervalMs: number): SubscribeEvents {
  if (intervalMs <= 0) return (filter, listener, options) => registry.subscribe(filter, listener, options);

  const subscribers = new Subscribers<(event: JobEvent) => void>();
  /** When each job last went out (`performance.now()`: monotonic, sub-millisecond), and in which state. */
  const sent = new Map<string, { state: string; at: number }>();
  /** Held snapshots, oldest event first. */
  const held = new Map<string, JobEvent>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let unsubscribe: (() => void) | null = null;

  const deliver = (event: JobEvent) => {
    if (!event.log) {
      sent.set(event.job.id, { state: event.job.state, at: performance.now() });
      if (isTerminal(event.job.state)) sent.delete(event.job.id);
    }
    for (const bucket of subscribers.bucketsFor(event.job)) {
      for (const subscriber of bucket) {
        if (subscriber.matches(event.job) && (subscriber.logs || !event.log)) subscriber.callback(event);
      }
    }
  };

  const flushHeld = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const events = [...held.values()];
    held.clear();
    for (const event of events) deliver(event);
  };

  const onEvent = (event: JobEvent) => {
    const last = event.log ? undefined : sent.get(event.job.id);
    const quietFor = last ? performance.now() - last.at : Number.POSITIVE_INFINITY;
    if (last && last.state === event.job.state && quietFor < intervalMs) {
      // Superseded snapshots are dropped; re-inserting keeps `held` in event order.
      held.delete(event.job.id);
      held.set(event.job.id, event);
      if (!timer) {
        // Held only for what is left of the interval: updates that come about once per interval
        // (progress every 50 ms, throttle 50 ms) are delayed by a millisecond, not by an interval.
        timer = setTimeout(flushHeld, Math.max(1, Math.ceil(intervalMs - quietFor)));
        timer.unref?.();
      }
      return;
    }
    // Held snapshots (this job's too) go first: the last progress before a change of state arrives.
    flushHeld();
    deliver(event);
  };

  return (filter, listener, options) => {
    const remove = subscribers.add(filter, listener, options?.logs === true);
    // Log lines are never held back: they are not snapshots a later one replaces.
    unsubscribe ??= registry.subscribe({}, onEvent, { logs: true });
    return () => {
      remove();
      if (subscribers.size > 0) return;
      // Nobody listens: release the registry listener and the timer, and forget what was sent.
      unsubscribe?.();
      unsubscribe = null;
      if (timer) clearTimeout(timer);
      timer = null;
      held.clear();
      sent.clear();
    };
  };
}
