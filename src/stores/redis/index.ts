// One file of about 700 lines on purpose: the Redis store is one class whose parts share one
// connection pair, one epoch and one read position (writes wait for their own event to come back
// through the read loop; a reset swaps the epoch under both), so splitting it would spread those
// invariants across files. The atomic steps themselves are apart, in scripts.ts.
import { Redis, type RedisOptions } from 'ioredis';
import { customAlphabet, nanoid } from 'nanoid';
import { integerOption, timerOption } from '../../core/options.js';
import {
  type CreateResult,
  idempotencyKey,
  type JobEvent,
  type JobStore,
  type Replay,
  type StoreContext,
  type StoreLoad,
  type WriteOptions,
  type WriteResult,
} from '../../core/store.js';
import { errorMessage, JobsError } from '../../protocol/errors.js';
import { type Job, type LogLine, NAME_PATTERN } from '../../protocol/job.js';
import { comparePositions, type EventId, parseEventId } from '../../protocol/wire.js';
import { CLAIM, CREATE, LOG, REMOVE, RENEW, RESTORE, WRITE } from './scripts.js';

export interface RedisStoreOptions {
  /**
   * Where Redis is, when no `client` is given.
   * @default 'redis://127.0.0.1:6379'
   * @example 'redis://:password@redis.internal:6379/2'
   */
  url?: string;
  /**
   * An ioredis client to use instead of `url`. The store makes one more connection from it
   * (`client.duplicate()`) for its blocking read loop, and leaves the client open on close.
   */
  client?: Redis;
  /**
   * Keys are `{<prefix>}:jobs`, `{<prefix>}:events`, …: one namespace per prefix, and one hash tag, so
   * Redis Cluster keeps them on one node. Instances that share jobs use the same prefix.
   * @default 'realtime-jobs'
   */
  prefix?: string;
  /** The change stream keeps about this many events for `Last-Event-ID` replay. @default 10000 */
  streamMaxLength?: number;
  /**
   * How long a queued or running job stays owned by an instance that stopped renewing its lease (it
   * renews every third of this). Once it runs out, another instance ends the job as `error`.
   * @default 15000
   */
  leaseMs?: number;
  /** How this instance names itself as a lease owner. @default a random id */
  instanceId?: string;
  /** How long opening waits for Redis to answer before it fails with `unavailable`. @default 10000 */
  openTimeoutMs?: number;
}

type Scripts = {
  rjCreate(...args: Array<string | number>): Promise<[string, string?]>;
  rjWrite(...args: Array<string | number>): Promise<[string, (string | null)?]>;
  rjRenew(...args: Array<string | number>): Promise<number>;
  rjClaim(...args: Array<string | number>): Promise<string[]>;
  rjRestore(...args: Array<string | number>): Promise<number>;
  rjRemove(...args: Array<string | number>): Promise<number>;
  rjLog(...args: Array<string | number>): Promise<[string, string, number]>;
};
type Client = Redis & Scripts;

const epochId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 10);
/** How long one blocking read waits before it looks again (and notices a close). */
const READ_BLOCK_MS = 2000;
const READ_COUNT = 1000;
/**
 * A blocking read still unanswered this long after it was sent, on a connection that is up, is lost:
 * ioredis can lose track of a command whose connection drops at the wrong moment (and then never
 * settles it). The read loop then opens a new connection and reads on from where it was.
 */
const READ_STALL_MS = READ_BLOCK_MS + 3000;
const SCRIPT_KEYS = 10;

/**
 * Keeps jobs in Redis and shares them between instances: every instance sees every job and every
 * change, in the same order with the same event ids, so a browser resumes on any instance with an id
 * another one gave it. Writes are atomic Lua scripts with a version check; queued and running jobs are
 * leased by the instance that owns them, and ended by another when their owner stops.
 *
 * @example
 * import { redisStore } from 'realtime-jobs/redis';
 * const jobs = await createJobRegistry({ store: redisStore({ url: process.env.REDIS_URL }) });
 */
export function redisStore(options: RedisStoreOptions = {}): JobStore {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'redisStore: options must be an object', { field: 'options' });
  }
  for (const key of Object.keys(options)) {
    if (!['url', 'client', 'prefix', 'streamMaxLength', 'leaseMs', 'instanceId', 'openTimeoutMs'].includes(key)) {
      throw new JobsError('invalid_options', `redisStore: \`${key}\` is not an option`, { field: key });
    }
  }
  if (options.url !== undefined && options.client !== undefined) {
    throw new JobsError('invalid_options', 'redisStore: give `url` or `client`, not both', { field: 'client' });
  }
  if (options.url !== undefined && (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))) {
    throw new JobsError('invalid_options', 'redisStore: `url` must be a redis:// or rediss:// URL', { field: 'url' });
  }
  if (options.client !== undefined && typeof (options.client as Redis)?.duplicate !== 'function') {
    throw new JobsError('invalid_options', 'redisStore: `client` must be an ioredis client', { field: 'client' });
  }
  const prefix = options.prefix ?? 'realtime-jobs';
  if (typeof prefix !== 'string' || prefix.length > 100 || !NAME_PATTERN.test(prefix)) {
    throw new JobsError('invalid_options', 'redisStore: `prefix` must be 1–100 of A–Z a–z 0–9 . _ : -', {
      field: 'prefix',
    });
  }
  const instanceId = options.instanceId ?? `i-${epochId()}`;
  if (typeof instanceId !== 'string' || instanceId.length > 100 || !NAME_PATTERN.test(instanceId)) {
    throw new JobsError('invalid_options', 'redisStore: `instanceId` must be 1–100 of A–Z a–z 0–9 . _ : -', {
      field: 'instanceId',
    });
  }
  return new RedisJobStore({
    url: options.url ?? 'redis://127.0.0.1:6379',
    client: options.client,
    prefix,
    instanceId,
    streamMaxLength: integerOption('redisStore', 'streamMaxLength', options.streamMaxLength, 10_000, 10),
    leaseMs: timerOption('redisStore', 'leaseMs', options.leaseMs, 15_000, 100),
    openTimeoutMs: timerOption('redisStore', 'openTimeoutMs', options.openTimeoutMs, 10_000, 1),
  });
}

interface Settings {
  url: string;
  client: Redis | undefined;
  prefix: string;
  instanceId: string;
  streamMaxLength: number;
  leaseMs: number;
  openTimeoutMs: number;
}

/** A Redis stream id, `<ms>-<seq>`, as numbers. */
function streamPosition(id: string): { major: number; minor: number } {
  const [ms, seq] = id.split('-');
  return { major: Number(ms), minor: Number(seq ?? 0) };
}

function meta(job: Job): string {
  return `${job.version} ${job.state}`;
}

class RedisJobStore implements JobStore {
  readonly kind = 'redis';
  readonly #settings: Settings;
  readonly #keys: string[];
  #client: Client | null = null;
  #reader: Redis | null = null;
  #ownsClient = false;
  #context: StoreContext | null = null;
  #epoch = '';
  /** The stream position the read loop has delivered up to. */
  #delivered = '0-0';
  /** Writes of this instance waiting for the read loop to deliver their event, by write token. */
  readonly #waiting = new Map<string, Waiter>();
  #writes = 0;
  /** What this instance holds: restored into Redis should Redis lose it. */
  readonly #jobs = new Map<string, Job>();
  /** Queued and running jobs whose lease this instance holds. */
  readonly #leased = new Set<string>();
  #timers: Array<ReturnType<typeof setInterval>> = [];
  #closed = false;
  #fault: string | null = null;
  #resetting: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  /** Ends the read loop's wait at once (on close), whatever its read does. */
  #stopReading: () => void = () => {};

  constructor(settings: Settings) {
    this.#settings = settings;
    const tag = `{${settings.prefix}}`;
    const names = ['epoch', 'jobs', 'versions', 'events', 'keys', 'leases', 'owners', 'slotted', 'loglines', 'logseq'];
    this.#keys = names.map((name) => `${tag}:${name}`);
  }

  async open(context: StoreContext): Promise<StoreLoad> {
    if (this.#context) throw new JobsError('locked', 'redisStore: this store is already open in a registry');
    this.#context = context;
    const connection: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false };
    const base = this.#settings.client ?? new Redis(this.#settings.url, connection);
    this.#ownsClient = !this.#settings.client;
    const client = base as Client;
    client.defineCommand('rjCreate', { numberOfKeys: SCRIPT_KEYS, lua: CREATE });
    client.defineCommand('rjWrite', { numberOfKeys: SCRIPT_KEYS, lua: WRITE });
    client.defineCommand('rjRenew', { numberOfKeys: SCRIPT_KEYS, lua: RENEW });
    client.defineCommand('rjClaim', { numberOfKeys: SCRIPT_KEYS, lua: CLAIM });
    client.defineCommand('rjRestore', { numberOfKeys: SCRIPT_KEYS, lua: RESTORE });
    client.defineCommand('rjRemove', { numberOfKeys: SCRIPT_KEYS, lua: REMOVE });
    client.defineCommand('rjLog', { numberOfKeys: SCRIPT_KEYS, lua: LOG });
    client.on('error', (error: Error) => this.#setFault(`Redis: ${error.message}`));
    client.on('ready', () => {
      // Back after a drop: a Redis that restarted empty has no epoch any more.
      if (this.#epoch) void this.#checkEpoch();
    });
    this.#client = client;
    this.#reader = this.#newReader();
    try {
      await answersWithin(client, this.#settings.openTimeoutMs);
      await this.#reportEvictionPolicy();
      const load = await this.#load();
      this.#loop = this.#readLoop();
      const renewEvery = Math.max(50, Math.floor(this.#settings.leaseMs / 3));
      this.#timers = [
        setInterval(() => void this.#renew(), renewEvery),
        setInterval(() => void this.#sweep([]), Math.min(1000, renewEvery)),
      ];
      for (const timer of this.#timers) (timer as { unref?: () => void }).unref?.();
      return load;
    } catch (error) {
      await this.#disconnect();
      this.#context = null;
      throw new JobsError('unavailable', `redisStore: could not open: ${errorMessage(error)}`, { cause: error });
    }
  }

  async create(job: Job, options: WriteOptions = {}): Promise<CreateResult> {
    const client = this.#open();
    const lease = options.lease === true && (job.state === 'queued' || job.state === 'running');
    const { status, value, delivered } = await this.#run(job, (token) =>
      client.rjCreate(...this.#keys, ...this.#writeArgs(job, lease, token), slotEntry(options.slot)),
    );
    if (status === 'held') return { created: false, job: this.#parse(value as string) };
    if (status === 'exists') throw new JobsError('conflict', `a job with id ${job.id} exists already`);
    if (lease) this.#leased.add(job.id);
    return { created: true, event: await delivered };
  }

  async write(job: Job, options: WriteOptions = {}): Promise<WriteResult> {
    const client = this.#open();
    const lease = options.lease === true && (job.state === 'queued' || job.state === 'running');
    const { status, value, delivered } = await this.#run(job, (token) =>
      client.rjWrite(
        ...this.#keys,
        ...this.#writeArgs(job, lease, token),
        String(job.version - 1),
        slotEntry(options.slot),
      ),
    );
    if (status === 'conflict') return { ok: false, current: value ? this.#parse(value) : null };
    if (status === 'busy') return { ok: false, current: this.#parse(value as string), busy: true };
    if (lease) this.#leased.add(job.id);
    return { ok: true, event: await delivered };
  }

  async appendLog(job: Job, line: Omit<LogLine, 'seq'>): Promise<JobEvent> {
    const client = this.#open();
    const { delivered } = await this.#run(job, (token) =>
      client.rjLog(
        ...this.#keys,
        this.#epoch,
        job.id,
        JSON.stringify(line),
        (this.#context as StoreContext).logLines,
        this.#settings.streamMaxLength,
        this.#settings.instanceId,
        token,
      ),
    );
    return delivered;
  }

  /**
   * Runs one write script: registers the write's token first (its event may come back through the
   * read loop before the script's answer), starts a new epoch and runs it again when Redis lost its
   * data, and hands back the script's answer with the promise of its delivered event.
   */
  async #run(
    job: Job,
    script: (token: string) => Promise<[string, unknown?, unknown?]>,
  ): Promise<{ status: string; value: string | null | undefined; delivered: Promise<JobEvent> }> {
    for (;;) {
      const [token, delivered] = this.#expect(job);
      const [status, value] = await script(token).catch((error) => {
        this.#unexpect(token);
        throw unavailable(error);
      });
      // `again`: the script ran twice (sent again after a dropped connection) and the first run wrote
      // it; its event is on its way, or came already.
      if (status === 'again') return { status: 'ok', value: null, delivered };
      if (status !== 'ok') this.#unexpect(token);
      if (status === 'epoch') {
        await this.#reset();
        continue;
      }
      return { status, value: value as string | null | undefined, delivered };
    }
  }

  async eventsSince(lastEventId: string): Promise<Replay> {
    const client = this.#open();
    const asked = parseEventId(lastEventId);
    if (!asked) return { kind: 'resync', reason: 'malformed event id' };
    if (asked.epoch !== this.#epoch) return { kind: 'resync', reason: 'event id from another epoch' };
    const from = `${asked.major}-${asked.minor}`;
    const [info, range] = (await client
      .multi()
      .xinfo('STREAM', this.#keys[3] as string)
      .xrange(this.#keys[3] as string, `(${from}`, '+', 'COUNT', this.#settings.streamMaxLength * 2)
      .exec()) as [[Error | null, unknown], [Error | null, Array<[string, string[]]>]];
    // No stream yet: nothing was ever written in this epoch.
    const fields = info[0] ? null : toObject(info[1] as unknown[]);
    const last = fields ? String(fields['last-generated-id']) : '0-0';
    if (comparePositions(asked, { epoch: '', ...streamPosition(last) }) > 0) {
      return { kind: 'resync', reason: 'event id newer than any sent' };
    }
    // Trimmed: entries before the first one kept are gone, and one after the asked id may be among them.
    const trimmed = fields !== null && Number(fields['entries-added']) > Number(fields.length);
    const firstKept = fields ? String(fields['recorded-first-entry-id'] ?? '0-0') : '0-0';
    if (trimmed && comparePositions(asked, { epoch: '', ...streamPosition(firstKept) }) < 0) {
      return { kind: 'resync', reason: 'event id older than the stream keeps' };
    }
    const events: JobEvent[] = [];
    for (const [id, entry] of range[1] ?? []) {
      const event = this.#entryEvent(id, entryFields(entry));
      if (event) events.push(event);
    }
    return { kind: 'replay', events, head: events.at(-1)?.id ?? lastEventId };
  }

  async remove(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#jobs.delete(id);
    if (ids.length === 0 || !this.#client || this.#closed) return;
    await this.#client.rjRemove(...this.#keys, this.#epoch, (this.#context as StoreContext).logLines, ...ids);
  }

  async flush(): Promise<void> {
    // Every write is in Redis once it resolves.
  }

  async close(): Promise<void> {
    if (this.#closed || !this.#context) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const waiter of this.#waiting.values()) waiter.reject(new JobsError('closed', 'redisStore: closed'));
    this.#waiting.clear();
    await this.#disconnect();
    this.#stopReading();
    await this.#loop?.catch(() => {});
  }

  health() {
    return {
      ok: this.#fault === null && !this.#closed,
      error: this.#fault,
      pendingWrites: this.#waiting.size,
      skipped: 0,
    };
  }

  // --- loading and the read loop ---------------------------------------------------------------

  /** Loads every job and the stream position in one transaction: no event falls between them. */
  async #load(): Promise<StoreLoad> {
    const client = this.#client as Client;
    const [epochKey, jobsKey, , eventsKey] = this.#keys as [string, string, string, string];
    await client.set(epochKey, epochId(), 'NX');
    const [epoch, all, info, lines] = (await client
      .multi()
      .get(epochKey)
      .hgetall(jobsKey)
      .xinfo('STREAM', eventsKey)
      .hgetall(this.#keys[8] as string)
      .exec()) as [
      [Error | null, string | null],
      [Error | null, Record<string, string>],
      [Error | null, unknown[]],
      [Error | null, Record<string, string>],
    ];
    if (epoch[0] || all[0] || !epoch[1]) throw epoch[0] ?? all[0] ?? new Error('the epoch vanished while loading');
    this.#epoch = epoch[1];
    this.#delivered = info[0] ? '0-0' : String(toObject(info[1])['last-generated-id']);
    this.#jobs.clear();
    const jobs: Job[] = [];
    let skipped = 0;
    for (const json of Object.values(all[1] ?? {})) {
      try {
        const job = this.#parse(json);
        jobs.push(job);
        this.#jobs.set(job.id, job);
      } catch {
        skipped++;
      }
    }
    const logs: Record<string, LogLine[]> = {};
    for (const [key, json] of Object.entries(lines[1] ?? {})) {
      const jobId = key.slice(0, key.lastIndexOf('#'));
      if (!this.#jobs.has(jobId)) continue;
      try {
        const line = Object.freeze((this.#context as StoreContext).parseLogLine(JSON.parse(json)));
        const kept = logs[jobId];
        if (kept) kept.push(line);
        else logs[jobId] = [line];
      } catch {
        skipped++;
      }
    }
    for (const kept of Object.values(logs)) kept.sort((a, b) => a.seq - b.seq);
    if (skipped > 0) this.#context?.onError(new Error(`redisStore: ${skipped} unreadable record(s) skipped`));
    // Busy jobs nobody holds a lease on (written back after a restart) and leases that ran out.
    const unleased = jobs.filter((job) => job.state === 'queued' || job.state === 'running').map((job) => job.id);
    const orphans = await this.#claim(unleased);
    this.#fault = null;
    return { jobs, logs, head: this.#eventId(this.#delivered), orphans, skipped, repaired: false };
  }

  async #readLoop(): Promise<void> {
    const stream = this.#keys[3] as string;
    /** The read in flight: kept across a stall while the connection is down (it is sent again then). */
    let pending: Promise<unknown> | null = null;
    while (!this.#closed) {
      const reader = this.#reader as Redis;
      try {
        pending ??= reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', stream, this.#delivered);
        const read = pending;
        const answer = (await this.#orStall(read)) as
          | typeof STALLED
          | Array<[string, Array<[string, string[]]>]>
          | null;
        if (answer === STALLED) {
          if (reader.status !== 'ready') continue; // down: ioredis sends the read again once it is back
          // Up, yet no answer: this read is lost. A new connection reads on from the same position.
          read.catch(() => {});
          pending = null;
          this.#context?.onError(new Error('redisStore: a read got no answer; the read connection was replaced'));
          reader.disconnect();
          this.#reader = this.#newReader();
          continue;
        }
        pending = null;
        if (this.#closed) return;
        if (this.#resetting) await this.#resetting.catch(() => {});
        for (const [, entries] of answer ?? []) {
          for (const [id, fields] of entries) {
            if (entryFields(fields).e !== this.#epoch) {
              // An entry of another epoch: Redis restarted under us. Everything is reloaded.
              await this.#reset();
              break;
            }
            this.#deliver(id, fields);
          }
        }
      } catch (error) {
        pending = null;
        if (this.#closed) return;
        this.#setFault(`redisStore: the read loop failed: ${errorMessage(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** What `read` answers, or STALLED once it has had no answer for READ_STALL_MS or the store closed. */
  #orStall(read: Promise<unknown>): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<typeof STALLED>((resolve) => {
      timer = setTimeout(() => resolve(STALLED), READ_STALL_MS);
      this.#stopReading = () => resolve(STALLED);
    });
    return Promise.race([read, stalled]).finally(() => clearTimeout(timer));
  }

  #newReader(): Redis {
    const reader = (this.#client as Client).duplicate({ maxRetriesPerRequest: null });
    reader.on('error', (error: Error) => this.#setFault(`Redis: ${error.message}`));
    return reader;
  }

  #deliver(id: string, flat: string[]): void {
    const position = streamPosition(id);
    // Already delivered (a read that overlapped a reload): ids only move forward.
    if (comparePositions({ epoch: '', ...position }, { epoch: '', ...streamPosition(this.#delivered) }) <= 0) return;
    this.#delivered = id;
    const fields = entryFields(flat);
    const ours = fields.i === this.#settings.instanceId;
    const waiter = ours ? this.#waiting.get(fields.v as string) : undefined;
    const event = this.#entryEvent(id, fields, waiter?.job);
    if (event && !event.log) {
      this.#jobs.set(event.job.id, event.job);
      const live = event.job.state === 'queued' || event.job.state === 'running';
      // Once another instance writes a job, the lease is the Lua script's business, not ours.
      if (!live || !ours) this.#leased.delete(event.job.id);
    }
    if (event) this.#context?.onEvent(event);
    if (waiter) {
      this.#waiting.delete(fields.v as string);
      if (event) waiter.resolve(event);
      else waiter.reject(new JobsError('unavailable', `redisStore: event ${id} could not be read back`));
    }
  }

  /**
   * Registers a write before it is sent: whenever the read loop delivers its event (even before the
   * script's answer arrives), the write resolves with it (read-your-writes).
   */
  #expect(job: Job): [string, Promise<JobEvent>] {
    const token = String(++this.#writes);
    const delivered = new Promise<JobEvent>((resolve, reject) => {
      this.#waiting.set(token, { job, resolve, reject });
    });
    return [token, delivered];
  }

  /** The write was not recorded: nothing will be delivered for it. */
  #unexpect(token: string): void {
    this.#waiting.delete(token);
  }

  /**
   * The event of a stream entry: a job snapshot (`j`), or a log line (`l`) of job `d`. `written` is
   * the job object this instance wrote, when the entry is its own: no parsing then.
   */
  #entryEvent(id: string, fields: Record<string, string>, written?: Job): JobEvent | null {
    if (fields.e !== this.#epoch) return null;
    try {
      if (fields.l !== undefined) {
        const job = written ?? this.#jobs.get(fields.d as string);
        if (!job) return null; // a line of a job this instance does not hold (pruned already)
        const log = Object.freeze((this.#context as StoreContext).parseLogLine(JSON.parse(fields.l)));
        return Object.freeze({ id: this.#eventId(id), job, log });
      }
      if (fields.j === undefined) return null;
      return Object.freeze({ id: this.#eventId(id), job: written ?? this.#parse(fields.j) });
    } catch (error) {
      this.#context?.onError(new Error(`redisStore: an unreadable event ${id} was skipped: ${errorMessage(error)}`));
      return null;
    }
  }

  #eventId(streamId: string): string {
    const { major, minor } = streamPosition(streamId);
    return `${this.#epoch}-${major}-${minor}`;
  }

  // --- leases ----------------------------------------------------------------------------------

  async #renew(): Promise<void> {
    if (this.#leased.size === 0 || !this.#client || this.#closed) return;
    try {
      await this.#client.rjRenew(
        ...this.#keys,
        this.#epoch,
        this.#settings.instanceId,
        this.#settings.leaseMs,
        ...this.#leased,
      );
    } catch (error) {
      this.#setFault(`redisStore: renewing leases failed: ${errorMessage(error)}`);
    }
  }

  /** Claims busy jobs whose owner is gone; at load they are handed back, later to `onOrphan`. */
  async #claim(unleased: string[]): Promise<Job[]> {
    const client = this.#client as Client;
    const answer = await client.rjClaim(
      ...this.#keys,
      this.#epoch,
      this.#settings.instanceId,
      this.#settings.leaseMs,
      100,
      ...unleased,
    );
    if (!Array.isArray(answer)) return [];
    const jobs: Job[] = [];
    for (const json of answer) {
      try {
        jobs.push(this.#parse(json));
      } catch {
        // Unreadable: skipped at load already.
      }
    }
    return jobs;
  }

  async #sweep(unleased: string[]): Promise<void> {
    if (!this.#client || this.#closed || this.#resetting) return;
    try {
      for (const job of await this.#claim(unleased)) this.#context?.onOrphan(job);
    } catch (error) {
      this.#setFault(`redisStore: looking for ended instances failed: ${errorMessage(error)}`);
    }
  }

  // --- a Redis that lost its data ----------------------------------------------------------------

  async #checkEpoch(): Promise<void> {
    try {
      const epoch = await (this.#client as Client).get(this.#keys[0] as string);
      if (epoch !== this.#epoch) await this.#reset();
      else this.#fault = null;
    } catch (error) {
      this.#setFault(`redisStore: ${errorMessage(error)}`);
    }
  }

  /**
   * Redis restarted without its data (or failed over to a replica that lost writes and the epoch):
   * a new epoch begins. This instance writes back what it holds (its own queued and running jobs
   * with their leases), reloads, and hands the registry the new state; streams resync.
   */
  #reset(): Promise<void> {
    this.#resetting ??= (async () => {
      const client = this.#client as Client;
      const [epochKey] = this.#keys as [string];
      await client.set(epochKey, epochId(), 'NX');
      this.#epoch = (await client.get(epochKey)) as string;
      const jobs = [...this.#jobs.values()];
      for (let i = 0; i < jobs.length; i += 200) {
        const args: string[] = [];
        for (const job of jobs.slice(i, i + 200)) {
          args.push(
            job.id,
            JSON.stringify(job),
            meta(job),
            idempotencyKey(job) ?? '',
            this.#leased.has(job.id) ? '1' : '0',
          );
        }
        await client.rjRestore(...this.#keys, this.#epoch, this.#settings.instanceId, this.#settings.leaseMs, ...args);
      }
      for (const waiter of this.#waiting.values()) {
        waiter.reject(new JobsError('unavailable', 'redisStore: Redis lost its data while this write was on its way'));
      }
      this.#waiting.clear();
      const load = await this.#load();
      this.#context?.onReset(load);
    })().finally(() => {
      this.#resetting = null;
    });
    return this.#resetting;
  }

  // --- small helpers -----------------------------------------------------------------------------

  #writeArgs(job: Job, lease: boolean, token: string): Array<string | number> {
    return [
      this.#epoch,
      job.id,
      JSON.stringify(job),
      meta(job),
      idempotencyKey(job) ?? '',
      job.state,
      lease ? '1' : '0',
      this.#settings.instanceId,
      this.#settings.leaseMs,
      this.#settings.streamMaxLength,
      token,
    ];
  }

  #parse(json: string): Job {
    return Object.freeze((this.#context as StoreContext).parseJob(JSON.parse(json)));
  }

  #open(): Client {
    if (!this.#client || this.#closed) throw new JobsError('closed', 'redisStore: the store is not open');
    return this.#client;
  }

  #setFault(message: string): void {
    if (this.#closed) return;
    if (this.#fault !== message) this.#context?.onError(new Error(message));
    this.#fault = message;
  }

  /** Says when Redis may evict job keys to make room (any `allkeys-*` policy). */
  async #reportEvictionPolicy(): Promise<void> {
    try {
      const answer = (await (this.#client as Client).config('GET', 'maxmemory-policy')) as string[];
      const policy = answer?.[1];
      if (policy?.startsWith('allkeys-')) {
        this.#context?.onError(
          new Error(
            `redisStore: Redis's maxmemory-policy is ${policy}: under memory pressure it may evict job keys. Use noeviction (or a volatile-* policy).`,
          ),
        );
      }
    } catch {
      // CONFIG is often disabled on managed Redis: nothing to check then.
    }
  }

  async #disconnect(): Promise<void> {
    const reader = this.#reader;
    this.#reader = null;
    reader?.disconnect();
    const client = this.#client;
    if (!this.#ownsClient || !client) return;
    // QUIT waits for a connection that may never come: only a connected client says goodbye.
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }
}

/** Resolves once Redis answers a PING; rejects after `ms` (commands wait for a connection otherwise). */
async function answersWithin(client: Redis, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([client.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const STALLED = Symbol('stalled');

interface Waiter {
  job: Job;
  resolve: (event: JobEvent) => void;
  reject: (error: Error) => void;
}

function unavailable(error: unknown): JobsError {
  return new JobsError('unavailable', `redisStore: ${errorMessage(error)}`, { cause: error });
}

/** Breaks ties in queue order between jobs queued by this process in the same millisecond. */
let queuePlaces = 0;

/**
 * A job's place in a concurrency slot, as the scripts read it: `<limit>\t<queue order>\t<name>`. The
 * order is when it joined the queue, then this process's count, then its id. The scripts keep the
 * entry a job was created (or re-queued) with: a later write's fresh entry is not used.
 */
function slotEntry(slot: WriteOptions['slot']): string {
  if (!slot) return '';
  const place = String(++queuePlaces).padStart(12, '0');
  return `${slot.limit}\t${new Date().toISOString()}|${place}|${nanoid(6)}\t${slot.name}`;
}

/** A stream entry's flat [name, value…] fields as an object. */
function entryFields(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}

/** XINFO's flat [name, value, name, value…] answer as an object. */
function toObject(flat: unknown[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) result[String(flat[i])] = flat[i + 1];
  return result;
}

export type { EventId };
