// The hooks an instrumentation (`realtime-jobs/otel`, or one of your own) gets from a registry and
// from the routes: a few optional callbacks. Core imports no telemetry library, and without an
// instrumentation it wraps, times and calls nothing: each hook is one `?.` check where it applies.
import { errorMessage, JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import type { JobRegistry } from './registry-api.js';
import type { JobStore } from './store.js';
import type { StreamCloseReason } from './stream.js';

/** The store calls that record a change. */
export type StoreWriteOperation = 'create' | 'write' | 'appendLog';

/** One store call that records a change, once it has finished. */
export interface StoreWrite {
  /** The store's `kind` (`memory`, `jsonl`, `redis`). */
  store: string;
  operation: StoreWriteOperation;
  durationMs: number;
  /** What it threw, or undefined. A version conflict or a full slot is an answer, not an error. */
  error: unknown;
}

/**
 * What `createJobRegistry({ instrumentation })` calls. Every hook is optional. Hooks that throw are
 * reported to `onError` and change nothing, except `attach` (it may refuse a registry) and `attempt`
 * (it runs the work).
 */
export interface RegistryInstrumentation {
  /**
   * Called once by `createJobRegistry`, once the registry has loaded, before it resolves. Throwing
   * refuses the registry: it is closed again and `createJobRegistry` rejects with that error.
   */
  attach?(registry: JobRegistry): void;
  /**
   * This instance took charge of a job it will run: `run()` (a definition's or ad hoc), `retry()`,
   * `approve()`, or `enqueue()` of a job that is not `pending`. Called synchronously in the async
   * context of that call (so an instrumentation can capture the request that started the job), after
   * the job is recorded and before it starts; a job enqueued as `running` has started already. Not
   * called for jobs other instances run, nor for jobs ended as orphans.
   */
  owned?(job: Job): void;
  /**
   * Runs one attempt of a job's work on this instance. It must call `work` once, synchronously, and
   * return what it returns (an instrumentation runs it inside the job's trace context). What it
   * throws counts as the attempt's failure.
   */
  attempt?<T>(job: Job, work: () => T): T;
  /** A store call that records a change has finished. Without this hook the store is not wrapped. */
  storeWrite?(write: StoreWrite): void;
}

/** What `createJobsEndpoint({ instrumentation })` and the adapters call. Every hook is optional. */
export interface EndpointInstrumentation {
  /** A stream opened (it counts until `streamClosed`). */
  streamOpened?(): void;
  /** A stream closed, and why (`evicted`: a reader too slow or stalled). */
  streamClosed?(reason: StreamCloseReason): void;
  /** A resuming stream could not replay and sent `resync` and a fresh snapshot, for this reason. */
  streamResynced?(reason: string): void;
}

const REGISTRY_HOOKS = ['attach', 'owned', 'attempt', 'storeWrite'] as const;
const ENDPOINT_HOOKS = ['streamOpened', 'streamClosed', 'streamResynced'] as const;

/**
 * A registry's instrumentation, checked (a hook that is there must be a function, or a JobsError
 * names it), with `owned` and `storeWrite` made safe: what they throw goes to `report`. Undefined
 * without one.
 */
export function registryHooks(value: unknown, report: (error: Error) => void): RegistryInstrumentation | undefined {
  const hooks = checked<RegistryInstrumentation>('createJobRegistry', value, REGISTRY_HOOKS);
  if (!hooks) return undefined;
  return {
    attach: hooks.attach?.bind(hooks),
    owned: safe(hooks, 'owned', report),
    attempt: hooks.attempt?.bind(hooks),
    storeWrite: safe(hooks, 'storeWrite', report),
  };
}

/** An endpoint's instrumentation, checked, each hook made safe; undefined without one. */
export function endpointHooks(value: unknown, report: (error: Error) => void): EndpointInstrumentation | undefined {
  const hooks = checked<EndpointInstrumentation>('realtime-jobs', value, ENDPOINT_HOOKS);
  if (!hooks) return undefined;
  return {
    streamOpened: safe(hooks, 'streamOpened', report),
    streamClosed: safe(hooks, 'streamClosed', report),
    streamResynced: safe(hooks, 'streamResynced', report),
  };
}

function checked<T extends object>(owner: string, value: unknown, names: readonly string[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new JobsError('invalid_options', `${owner}: \`instrumentation\` must be an object of hooks`, {
      field: 'instrumentation',
    });
  }
  for (const name of names) {
    const hook = (value as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== 'function') {
      throw new JobsError('invalid_options', `${owner}: \`instrumentation.${name}\` must be a function`, {
        field: `instrumentation.${name}`,
      });
    }
  }
  return value as T;
}

/** The hook `name` of `hooks`, bound, with what it throws reported instead; undefined when absent. */
function safe<T extends object, K extends keyof T & string>(
  hooks: T,
  name: K,
  report: (error: Error) => void,
): T[K] | undefined {
  const hook = hooks[name] as ((...args: unknown[]) => void) | undefined;
  if (hook === undefined) return undefined;
  return ((...args: unknown[]) => {
    try {
      hook.apply(hooks, args);
    } catch (error) {
      report(new Error(`instrumentation.${name} threw: ${errorMessage(error)}`, { cause: error }));
    }
  }) as T[K];
}

/** `store`, with each call that records a change timed and reported to `storeWrite`. */
export function timedStore(store: JobStore, storeWrite: (write: StoreWrite) => void): JobStore {
  const timed =
    <A extends unknown[], R>(operation: StoreWriteOperation, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = performance.now();
      try {
        const result = await call(...args);
        storeWrite({ store: store.kind, operation, durationMs: performance.now() - start, error: undefined });
        return result;
      } catch (error) {
        storeWrite({ store: store.kind, operation, durationMs: performance.now() - start, error });
        throw error;
      }
    };
  return {
    get kind() {
      return store.kind;
    },
    open: (context) => store.open(context),
    create: timed('create', (job, options) => store.create(job, options)),
    write: timed('write', (job, options) => store.write(job, options)),
    appendLog: timed('appendLog', (job, line) => store.appendLog(job, line)),
    eventsSince: (lastEventId) => store.eventsSince(lastEventId),
    remove: (ids) => store.remove(ids),
    flush: () => store.flush(),
    close: () => store.close(),
    health: () => store.health(),
  };
}
