import { errorMessage, JobsError } from '../protocol/errors.js';
import { isBusy, type Job, type JobLimits, type JsonObject } from '../protocol/job.js';
import { timerOption } from './options.js';
import type { EnqueueInput, JobPatch } from './validate.js';

/** What `run()`'s work function receives. */
export interface JobContext {
  readonly jobId: string;
  /** The job's current snapshot. */
  readonly job: Job;
  /** Aborted when the job is cancelled (here or on another instance), times out, or the registry closes. */
  readonly signal: AbortSignal;
  /**
   * Sets progress (0..1, or null for indeterminate), optionally with a phase and message. A bad value
   * throws at once (a JobsError naming the field); the returned promise resolves once the change is
   * recorded and never rejects, so it need not be awaited.
   */
  progress(value: number | null, details?: { phase?: string | null; message?: string | null }): Promise<void>;
  /** Sets phase, message, progress or data without changing the state. Throws and resolves as `progress` does. */
  update(patch: Omit<JobPatch, 'state'>): Promise<void>;
  /** The job ends as `warning` (not `success`) with this message when the work returns. */
  warn(message: string): void;
  /** The job ends as `pending` (waiting for a person) with this message when the work returns. */
  awaitApproval(message: string): void;
}

/** What `run()`'s work function may return: a JSON object becomes the job's `data`. */
// biome-ignore lint/suspicious/noConfusingVoidType: work functions that return nothing are typed `void`
export type JobWork = (ctx: JobContext) => Promise<JsonObject | undefined | void> | JsonObject | undefined | void;

export interface RunOptions {
  /** The job ends as `error` and its signal aborts after this long. At most 2³¹−1 ms (about 24.8 days). */
  timeoutMs?: number;
}

/** What the runner needs from its registry. */
export interface RunnerHost {
  create(input: EnqueueInput): Promise<{ job: Job; created: boolean }>;
  /** Checks a patch against the registry's limits; throws a JobsError naming the field. */
  check(id: string, patch: unknown): JobPatch;
  /** Writes a checked patch. */
  write(id: string, patch: JobPatch): Promise<Job>;
  get(id: string): Job | undefined;
  readonly limits: Readonly<JobLimits>;
  isClosed(): boolean;
  report(error: unknown): void;
}

interface RunningWork {
  controller: AbortController;
  timer: ReturnType<typeof setTimeout> | null;
}

type Ending = { state: 'warning' | 'pending'; message: string };

/**
 * Runs work functions for a registry: starts each job, reports what `ctx` is told, and ends the job by
 * how the work ends (return → `success`, `ctx.warn` → `warning`, `ctx.awaitApproval` → `pending`,
 * throw or timeout → `error`). Whatever the work throws or returns, the job ends and nothing escapes
 * into the host process as an unhandled rejection.
 */
export function createRunner(host: RunnerHost) {
  const running = new Map<string, RunningWork>();
  /** Text a job may carry as its message: a string, at most the message limit long. */
  const messageText = (value: unknown): string => {
    const text = typeof value === 'string' ? value : errorMessage(value);
    return text.length > host.limits.messageLength ? text.slice(0, host.limits.messageLength) : text;
  };

  async function execute(id: string, work: JobWork, entry: RunningWork, timeoutMs: number | undefined) {
    const { signal } = entry.controller;
    let ending: Ending | null = null;
    const alive = () => !signal.aborted && !host.isClosed() && isBusy(host.get(id)?.state ?? 'error');
    /** ctx's writes: checked at once, then written; ignored once the job has ended; never rejecting. */
    const apply = (unchecked: JobPatch): Promise<void> => {
      if (!alive()) return Promise.resolve();
      const patch = host.check(id, unchecked);
      return host.write(id, patch).then(
        () => {},
        (error) => {
          // A job that ended meanwhile (cancelled elsewhere) is no fault of the work's.
          if (alive()) host.report(new Error(`job ${id}: ${errorMessage(error)}`, { cause: error }));
        },
      );
    };
    const ctx: JobContext = {
      jobId: id,
      get job() {
        return host.get(id) as Job;
      },
      signal,
      progress: (value, details = {}) => apply(progressPatch(value, details)),
      update: (patch) => apply(contextPatch(patch)),
      warn: (message) => {
        ending = { state: 'warning', message: messageText(message) };
      },
      awaitApproval: (message) => {
        ending = { state: 'pending', message: messageText(message) };
      },
    };
    const write = (patch: JobPatch) => host.write(id, host.check(id, patch));
    const fail = (error: unknown) => (alive() ? write({ state: 'error', message: messageText(error) }) : null);

    try {
      if (!alive()) return;
      await write({ state: 'running' });
      if (timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          if (!alive()) return;
          entry.controller.abort(new JobsError('closed', `Job ${id} timed out after ${timeoutMs} ms`, { jobId: id }));
          write({ state: 'error', message: `Timed out after ${timeoutMs} ms` }).catch((error) => host.report(error));
        }, timeoutMs);
        (entry.timer as { unref?: () => void }).unref?.();
      }
      const result = await work(ctx);
      if (!alive()) return;
      const end = ending as Ending | null;
      const patch: JobPatch = { state: end?.state ?? 'success' };
      if (end) patch.message = end.message;
      if (result !== undefined && result !== null) patch.data = result as JsonObject;
      try {
        await write(patch);
      } catch (error) {
        // The result itself was invalid (not JSON, too large): say so instead of leaving the job busy.
        await fail(error);
      }
    } catch (error) {
      await fail(error);
    } finally {
      if (entry.timer) clearTimeout(entry.timer);
      running.delete(id);
    }
  }

  return {
    async run(input: EnqueueInput, work: JobWork, options: RunOptions = {}): Promise<Job> {
      if (typeof work !== 'function') {
        throw new JobsError('invalid_input', 'run: the work must be a function', { field: 'work' });
      }
      if (options !== undefined && (typeof options !== 'object' || options === null)) {
        throw new JobsError('invalid_input', 'run: options must be an object', { field: 'options' });
      }
      const timeoutMs =
        options.timeoutMs === undefined ? undefined : timerOption('run', 'timeoutMs', options.timeoutMs, 0, 1);
      const { job, created } = await host.create(input);
      if (!created) return job; // an idempotent hit: that job is already under way
      const entry: RunningWork = { controller: new AbortController(), timer: null };
      running.set(job.id, entry);
      // After the caller has the queued snapshot; a failure of the runner itself is reported, never thrown.
      setTimeout(() => {
        execute(job.id, work, entry, timeoutMs).catch((error) => host.report(error));
      }, 0);
      return job;
    },
    /** The job ended (here or elsewhere): abort its work if it runs here. */
    ended(id: string) {
      running.get(id)?.controller.abort(new JobsError('closed', `Job ${id} has ended`, { jobId: id }));
    },
    abortAll() {
      for (const entry of running.values()) {
        if (entry.timer) clearTimeout(entry.timer);
        entry.controller.abort(new JobsError('closed', 'The job registry closed'));
      }
    },
  };
}

/** ctx.progress's arguments as a patch; a bad one throws a JobsError naming the field. */
function progressPatch(value: number | null, details: { phase?: string | null; message?: string | null }): JobPatch {
  if (typeof details !== 'object' || details === null) {
    throw new JobsError('invalid_input', 'ctx.progress: details must be an object', { field: 'details' });
  }
  return { progress: value, ...details };
}

function contextPatch(patch: Omit<JobPatch, 'state'>): JobPatch {
  if (patch && typeof patch === 'object' && 'state' in patch) {
    throw new JobsError('invalid_input', 'ctx.update: `state` is set by how the work ends (return, throw, warn)', {
      field: 'state',
    });
  }
  return patch;
}
