import type { Job } from '../../protocol/job.js';
import { JobFeedError, type JobFeedErrorCode } from './errors.js';
import { coversFilter, type NormalFilter, unionFilters } from './filter.js';
import { FeedMachine, type MachineListener } from './machine.js';
import type { FeedSettings } from './options.js';
import { pollJobs } from './poll.js';
import type { JobFeedConnection, JobFeedState } from './types.js';

/** What the tabs of one endpoint say to each other on their BroadcastChannel. */
type Message =
  | { t: 'job'; job: Job; snap: boolean }
  | { t: 'snap'; filter: NormalFilter; ids: string[] }
  // The leader's resume point (an id exact for `filter`) and how its connection stands.
  | {
      t: 'info';
      id: string | undefined;
      filter: NormalFilter | null;
      state: JobFeedState;
      connection: JobFeedConnection;
    }
  | { t: 'error'; code: JobFeedErrorCode; message: string; status: number | undefined }
  // A tab's subscriptions want `filter`: the leader widens its connection to cover it.
  | { t: 'want'; filter: NormalFilter }
  // A new leader: every tab says again what it wants.
  | { t: 'lead' }
  | { t: 'reconnect' };

/** The part of `navigator.locks` used here. */
interface Locks {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    grant: (lock: unknown) => unknown,
  ): Promise<unknown>;
}

/** `navigator.locks`, when this page has both it and BroadcastChannel (and is a page at all). */
export function tabLocks(): Locks | undefined {
  const locks = (globalThis.navigator as { locks?: Locks } | undefined)?.locks;
  return globalThis.document && typeof BroadcastChannel === 'function' && typeof locks?.request === 'function'
    ? locks
    : undefined;
}

/**
 * One stream for every tab of an origin on the same endpoint. The tab holding the Web Lock named after
 * the endpoint leads: it runs a {@link FeedMachine} for the union of what all tabs asked for, and puts
 * every job, snapshot end, resume point and state change on a BroadcastChannel; the other tabs follow
 * it, each applying its own subscriptions' filters through its own held jobs. A tab competes for the
 * lock only while it is visible (unless `pauseWhenHidden` is off), so a hidden leader hands over and,
 * with every tab hidden, nobody holds a stream, as a single tab would pause.
 *
 * Resume stays exact across a hand-over: every tab keeps the leader's last resume point (an id and the
 * filter it is exact for, taken together) and a new leader resumes from it with `Last-Event-ID`. A tab
 * that joins asks the list route once for its own filter, so it does not wait for the next change.
 *
 * It has {@link FeedMachine}'s surface, so the feed drives either one alike.
 */
export class TabShare {
  readonly #settings: FeedSettings;
  readonly #on: MachineListener;
  readonly #locks: Locks;
  readonly #name: string;
  /** Runs only while this tab leads. */
  readonly #machine: FeedMachine;
  #channel: BroadcastChannel | null = null;
  /** What this tab's subscriptions asked for since it last was idle. */
  #asked: NormalFilter | null = null;
  /** The leader's last resume point: an id and the filter it is exact for. */
  #seed: { id: string | undefined; filter: NormalFilter | null } = { id: undefined, filter: null };
  /** Set while the lock is requested or held. */
  #request: AbortController | null = null;
  /** Set while this tab leads: lets go of the lock. */
  #release: (() => void) | null = null;
  #catchUp: AbortController | null = null;
  #state: JobFeedState = 'idle';
  #connection: JobFeedConnection = 'live';
  #closed = false;

  constructor(settings: FeedSettings, on: MachineListener, locks: Locks) {
    this.#settings = settings;
    this.#on = on;
    this.#locks = locks;
    this.#name = `realtime-jobs ${settings.root}`;
    // The leader's machine ignores its own tab's visibility: the hand-over takes care of hiding.
    this.#machine = new FeedMachine(
      { ...settings, document: undefined },
      {
        state: () => this.#sync(),
        connection: () => this.#sync(),
        error: (error) => {
          on.error(error);
          this.#post({ t: 'error', code: error.code, message: error.message, status: error.status });
        },
        job: (job, snap) => {
          on.job(job, snap);
          this.#post({ t: 'job', job, snap });
        },
        snapshot: (filter, carried) => {
          on.snapshot(filter, carried);
          this.#post({ t: 'snap', filter, ids: [...carried] });
        },
        resumeFrom: (id) => {
          this.#seed = { id, filter: this.#machine.filter };
          this.#sync();
        },
      },
    );
  }

  get state(): JobFeedState {
    return this.#state;
  }

  get connection(): JobFeedConnection {
    return this.#connection;
  }

  get filter(): NormalFilter | null {
    return this.#asked;
  }

  /** This tab's subscriptions want `filter`: joins the tabs, or tells the leader to widen. */
  run(filter: NormalFilter): void {
    if (this.#closed) return;
    this.#asked = this.#asked ? unionFilters([this.#asked, filter]) : filter;
    if (!this.#channel) return this.#join();
    this.#post({ t: 'want', filter: this.#asked });
    if (this.#release) this.#widen(this.#asked);
    else this.#poll();
  }

  /** No subscription left: leaves the tabs. */
  idle(): void {
    this.#leave();
    this.#asked = null;
    this.#setState('idle');
  }

  /**
   * Hidden: stops competing for the lock (a leader hands over) and keeps following. `gone` (pagehide,
   * freeze): the page may be frozen or kept in the back/forward cache, so it leaves the channel too.
   */
  pause(gone?: boolean): void {
    if (gone) this.#leave();
    else this.#compete(false);
  }

  /** Shown (or back from the cache): joins again if it left, and competes for the lock. */
  resume(): void {
    if (!this.#asked || this.#closed) return;
    if (this.#channel) this.#compete(true);
    else this.#join();
  }

  reconnect(filter: NormalFilter | null): void {
    if (this.#release) this.#machine.reconnect(this.#machine.filter ?? filter);
    else if (this.#channel) this.#post({ t: 'reconnect' });
    else if (filter) this.run(filter);
  }

  close(): void {
    this.#leave();
    this.#closed = true;
    this.#machine.close();
    this.#setState('closed');
  }

  #join(): void {
    const channel = new BroadcastChannel(this.#name);
    channel.onmessage = (event: MessageEvent<Message>) => this.#receive(event.data);
    this.#channel = channel;
    this.#setState('connecting');
    this.#post({ t: 'want', filter: this.#asked as NormalFilter });
    this.#compete(true, true);
  }

  #leave(): void {
    this.#compete(false);
    this.#catchUp?.abort();
    this.#channel?.close();
    this.#channel = null;
  }

  #receive(message: Message): void {
    const on = this.#on;
    switch (message.t) {
      // A leader gets these too, from its predecessor's last moments: harmless, held jobs are versioned.
      case 'job':
        return on.job(message.job, message.snap);
      case 'snap':
        return on.snapshot(message.filter, new Set(message.ids));
      case 'error':
        return on.error(new JobFeedError(message.code, message.message, message.status));
      case 'lead':
        if (this.#asked) this.#post({ t: 'want', filter: this.#asked });
        return;
    }
    if (!this.#release) {
      if (message.t === 'info') {
        this.#seed = { id: message.id, filter: message.filter };
        this.#setState(message.state);
        this.#setConnection(message.connection);
      }
    } else if (message.t === 'want') {
      this.#widen(message.filter);
      this.#sync();
    } else if (message.t === 'reconnect') {
      this.#machine.reconnect(this.#machine.filter);
    }
  }

  /**
   * Starts (`on`) or stops competing for the lock; stopping hands over when this tab leads. `first`
   * (joining): takes the lock only if it is free, and otherwise asks the list once before waiting in
   * line, so a tab that does not lead right away holds its jobs at once.
   */
  #compete(on: boolean, first = false): void {
    if (!on) {
      this.#stepDown();
      this.#request?.abort();
      this.#request = null;
      return;
    }
    if (this.#request || !this.#channel) return;
    if (this.#hidden()) {
      if (first) this.#poll();
      return;
    }
    const request = new AbortController();
    this.#request = request;
    // `signal` and `ifAvailable` do not go together; an `ifAvailable` request is answered at once.
    this.#locks
      .request(this.#name, first ? { ifAvailable: true } : { signal: request.signal }, (lock) => {
        if (this.#request !== request) return;
        if (lock) return this.#lead();
        this.#poll();
        this.#request = null;
        this.#compete(true);
      })
      .catch(() => {});
  }

  #hidden(): boolean {
    return this.#settings.document?.visibilityState === 'hidden';
  }

  /** Holds the lock until {@link TabShare.#stepDown}: resumes from the shared point, for every tab's filter. */
  #lead(): Promise<void> {
    return new Promise((release) => {
      this.#release = release;
      const { id, filter } = this.#seed;
      const mine = this.#asked as NormalFilter;
      this.#machine.seed(filter, id);
      // A filter the seed does not cover drops the resume point: a snapshot, as for one tab.
      this.#machine.reconnect(filter ? unionFilters([filter, mine]) : mine);
      this.#post({ t: 'lead' });
      this.#sync();
    });
  }

  #stepDown(): void {
    const release = this.#release;
    if (!release) return;
    // Still leading while it pauses: the others hear `paused` until a new leader speaks.
    this.#machine.pause();
    this.#release = null;
    release();
  }

  #widen(filter: NormalFilter): void {
    const current = this.#machine.filter;
    if (!current || !coversFilter(current, filter))
      this.#machine.run(current ? unionFilters([current, filter]) : filter);
  }

  /** Asks the list route once for this tab's filter: what a follower holds before the next change. */
  #poll(): void {
    this.#catchUp?.abort();
    const abort = new AbortController();
    this.#catchUp = abort;
    void pollJobs(this.#settings, this.#asked as NormalFilter, undefined, abort.signal, (job) =>
      this.#on.job(job, false),
    ).then((result) => {
      if (result.error && !abort.signal.aborted) this.#on.error(result.error);
    });
  }

  /** The leader takes its machine's state as the tab's, and tells the others with its resume point. */
  #sync(): void {
    if (!this.#release) return;
    this.#setState(this.#machine.state);
    this.#setConnection(this.#machine.connection);
    this.#post({ t: 'info', ...this.#seed, state: this.#state, connection: this.#connection });
  }

  #post(message: Message): void {
    this.#channel?.postMessage(message);
  }

  #setState(state: JobFeedState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#on.state(state);
  }

  #setConnection(connection: JobFeedConnection): void {
    if (connection === this.#connection) return;
    this.#connection = connection;
    this.#on.connection(connection);
  }
}
