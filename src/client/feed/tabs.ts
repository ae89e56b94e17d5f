import type { Job } from '../../protocol/job.js';
import { JobFeedError, type JobFeedErrorCode } from './errors.js';
import { coversFilter, type NormalFilter, unionFilters } from './filter.js';
import { isJob } from './held-jobs.js';
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

/** The states a leader passes on: `idle` and `closed` are a tab's own (it has no subscription, it closed). */
const STATES: readonly JobFeedState[] = ['connecting', 'streaming', 'polling', 'paused', 'denied'];
const CONNECTIONS: readonly JobFeedConnection[] = ['live', 'polling', 'offline'];

/** An array of strings. */
const isList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/** A {@link NormalFilter} as another tab sends it: absent fields, or lists of strings. */
const isFilter = (value: unknown): value is NormalFilter => {
  const filter = value as NormalFilter | null;
  return (
    filter?.target instanceof Object &&
    Object.values(filter.target).every(isList) &&
    [filter.jobId ?? [], filter.category ?? []].every(isList)
  );
};

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

/** {@link FeedMachine}'s surface: the feed drives a tab share and a machine alike. */
export type FeedSource = Pick<
  FeedMachine,
  'state' | 'connection' | 'filter' | 'run' | 'idle' | 'resume' | 'reconnect' | 'close'
> & {
  /** `gone`: pagehide or freeze, the page may be frozen or kept in the back/forward cache. */
  pause(gone?: boolean): void;
};

/**
 * One stream for every tab of an origin on the same endpoint. The tab holding the Web Lock named after
 * the endpoint and the credentials mode leads: it runs a {@link FeedMachine} for the union of what all
 * tabs asked for, and puts every job, snapshot end, resume point and state change on a
 * BroadcastChannel; the other tabs follow it, each applying its own subscriptions' filters through its
 * own held jobs. A tab competes for the lock only while it is visible (unless `pauseWhenHidden` is
 * off), so a hidden leader hands over and, with every tab hidden, nobody holds a stream, as a single
 * tab would pause. Hidden tabs keep following.
 *
 * Resume stays exact across a hand-over: every tab keeps the leader's last resume point (an id and the
 * filter it is exact for, always taken together) and a new leader resumes from it with
 * `Last-Event-ID`. A tab that joins and does not lead at once asks the list route once for its own
 * filter, so it holds its jobs before the next change.
 *
 * A closure rather than a class: its local names minify, private fields do not.
 */
export function shareTabs(settings: FeedSettings, on: MachineListener, locks: Locks): FeedSource {
  // Tabs with other credentials are another principal (`omit`: nobody's cookies): another stream.
  const name = `realtime-jobs ${settings.credentials} ${settings.root}`;
  let channel: BroadcastChannel | null = null;
  /** What this tab's subscriptions asked for since it last was idle. */
  let asked: NormalFilter | null = null;
  /** The leader's last resume point: an id and the filter it is exact for. */
  let seed: { id: string | undefined; filter: NormalFilter | null } = { id: undefined, filter: null };
  /** Set while the lock is requested or held. */
  let request: AbortController | null = null;
  /** Set while this tab leads: lets go of the lock. */
  let release: (() => void) | null = null;
  let catchUp: AbortController | null = null;
  let state: JobFeedState = 'idle';
  let connection: JobFeedConnection = 'live';
  let closed = false;

  const post = (message: Message) => channel?.postMessage(message);
  const setState = (next: JobFeedState) => {
    if (next === state) return;
    state = next;
    on.state(next);
  };
  const setConnection = (next: JobFeedConnection) => {
    if (next === connection) return;
    connection = next;
    on.connection(next);
  };
  /** The leader takes its machine's state as the tab's, and tells the others with its resume point. */
  const sync = () => {
    if (!release) return;
    setState(machine.state);
    setConnection(machine.connection);
    post({ t: 'info', ...seed, state, connection });
  };

  // The leader's machine ignores its own tab's visibility: handing over takes care of hiding.
  const machine = new FeedMachine(
    { ...settings, document: undefined },
    {
      state: sync,
      connection: sync,
      error(error) {
        on.error(error);
        post({ t: 'error', code: error.code, message: error.message, status: error.status });
      },
      job(job, snap) {
        on.job(job, snap);
        post({ t: 'job', job, snap });
      },
      snapshot(filter, carried) {
        on.snapshot(filter, carried);
        post({ t: 'snap', filter, ids: [...carried] });
      },
      resumeFrom(id) {
        seed = { id, filter: machine.filter };
        sync();
      },
    },
  );

  const widen = (filter: NormalFilter) => {
    const current = machine.filter;
    if (!current || !coversFilter(current, filter)) machine.run(current ? unionFilters([current, filter]) : filter);
  };

  /** Asks the list route once for this tab's filter: what a follower holds before the next change. */
  const poll = () => {
    catchUp?.abort();
    const abort = new AbortController();
    catchUp = abort;
    void pollJobs(settings, asked as NormalFilter, undefined, abort.signal, (job) => on.job(job, false)).then(
      (result) => {
        if (result.error && !abort.signal.aborted) on.error(result.error);
      },
    );
  };

  /** Holds the lock until `stepDown`: resumes from the shared point, for every tab's filter. */
  const lead = () =>
    new Promise<void>((done) => {
      release = done;
      const mine = asked as NormalFilter;
      machine.seed(seed.filter, seed.id);
      // A filter the seed does not cover drops the resume point: a snapshot, as for one tab.
      machine.reconnect(seed.filter ? unionFilters([seed.filter, mine]) : mine);
      post({ t: 'lead' });
      sync();
    });

  const stepDown = () => {
    const done = release;
    if (!done) return;
    // Still leading while it pauses: the others hear `paused` until a new leader speaks.
    machine.pause();
    release = null;
    done();
  };

  /**
   * Competes for the lock, unless hidden. `first` (joining): takes the lock only if it is free, and
   * otherwise asks the list once before waiting in line.
   */
  const compete = (first = false) => {
    if (request || !channel) return;
    if (settings.document?.visibilityState === 'hidden') {
      // Paused, as one hidden tab would be, until a leader says otherwise.
      if (first) {
        setState('paused');
        poll();
      }
      return;
    }
    const mine = new AbortController();
    request = mine;
    // `signal` and `ifAvailable` do not go together; an `ifAvailable` request is answered at once.
    locks
      .request(name, first ? { ifAvailable: true } : { signal: mine.signal }, (lock) => {
        if (request !== mine) return;
        if (lock) return lead();
        poll();
        request = null;
        compete();
      })
      // Refused (an opaque origin: a sandboxed frame, a file: page) rather than aborted by us: this tab
      // streams on its own.
      .catch(() => {
        if (request === mine) void lead();
      });
  };

  /** Stops competing; a leader hands over. */
  const withdraw = () => {
    stepDown();
    request?.abort();
    request = null;
  };

  // Anything may arrive on the channel (another script of the origin, another version of this
  // library): a message of another shape is ignored, never thrown on or passed on.
  const receive = ({ data: message }: MessageEvent<Message>) => {
    if (typeof message !== 'object' || message === null) return;
    const { t } = message;
    // A leader gets jobs too, from its predecessor's last moments: harmless, held jobs are versioned.
    if (t === 'job') {
      if (isJob(message.job)) on.job(message.job, message.snap === true);
    } else if (t === 'snap') {
      if (isFilter(message.filter) && isList(message.ids)) on.snapshot(message.filter, new Set(message.ids));
    } else if (t === 'error') {
      if (typeof message.message === 'string')
        on.error(new JobFeedError(message.code, message.message, message.status));
    } else if (t === 'lead') {
      if (asked) post({ t: 'want', filter: asked });
    } else if (!release) {
      if (
        t === 'info' &&
        typeof (message.id ?? '') === 'string' &&
        (message.filter === null || isFilter(message.filter)) &&
        STATES.includes(message.state) &&
        CONNECTIONS.includes(message.connection)
      ) {
        seed = { id: message.id, filter: message.filter };
        setState(message.state);
        setConnection(message.connection);
      }
    } else if (t === 'want') {
      if (isFilter(message.filter)) {
        widen(message.filter);
        sync();
      }
    } else if (t === 'reconnect') machine.reconnect(machine.filter);
  };

  const join = () => {
    channel = new BroadcastChannel(name);
    channel.onmessage = receive;
    setState('connecting');
    post({ t: 'want', filter: asked as NormalFilter });
    compete(true);
  };

  const leave = () => {
    withdraw();
    catchUp?.abort();
    channel?.close();
    channel = null;
  };

  return {
    get state() {
      return state;
    },
    get connection() {
      return connection;
    },
    get filter() {
      return asked;
    },
    run(filter) {
      if (closed) return;
      asked = asked ? unionFilters([asked, filter]) : filter;
      if (!channel) join();
      else {
        post({ t: 'want', filter: asked });
        if (release) widen(asked);
        else poll();
      }
    },
    idle() {
      leave();
      asked = null;
      // As for one tab: the next connection this tab opens starts from a snapshot of what it then
      // wants (other tabs say again what they want when it leads, and it widens for them).
      seed = { id: undefined, filter: null };
      setState('idle');
    },
    /** Hidden: stops competing (a leader hands over) and keeps following. `gone`: leaves the channel too. */
    pause(gone) {
      if (gone) leave();
      else withdraw();
    },
    /** Shown, or back from the cache: joins again if it left, and competes for the lock. */
    resume() {
      if (!asked || closed) return;
      if (channel) compete();
      else join();
    },
    reconnect(filter) {
      if (release) machine.reconnect(machine.filter ?? filter);
      else if (channel) post({ t: 'reconnect' });
      else if (filter) this.run(filter);
    },
    close() {
      leave();
      closed = true;
      machine.close();
      setState('closed');
    },
  };
}
