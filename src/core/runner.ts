import { errorMessage, JobsError } from '../protocol/errors.js';
import { isBusy, type Job, type JobLimits, type JsonObject, LOG_LEVELS, type LogLevel } from '../protocol/job.js';
import { delay } from './job-writer.js';
import type { JobChange } from './next-version.js';
import type { JobPatch } from './validate.js';

/** What a work function receives. `Input` is the job's `data`; `Result` what the work returns. */
export interface JobContext<Input extends JsonObject = JsonObject, Result extends JsonObject = JsonObject> {
  readonly jobId: string;
  /** The job's current snapshot. */
  readonly job: Job<Input, Result>;
  /** What the job was started with (its `data`). */
  readonly input: Input;
  /** This run: 1 for the first, 2 for the first retry… */
  readonly attempt: number;
  /** Set when the work runs because a person approved the job (`approve`), else null. */
  readonly approval: { readonly by: string | null; readonly at: string } | null;
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
  /**
   * Adds a line to the job's log (text, cut at the line limit), streamed to detail views as it
   * happens. Resolves once recorded; never rejects.
   */
  log(text: string, options?: { level?: LogLevel }): Promise<void>;
  /** The job ends as `warning` (not `success`) with this message when the work returns. */
  warn(message: string): void;
  /** The job ends as `pending` (waiting for a person) with this message when the work returns. */
  awaitApproval(message: string): void;
}

/** A work function: what it returns (a JSON object) becomes the job's `result`. */
export type JobWork<Input extends JsonObject = JsonObject, Result extends JsonObject = JsonObject> = (
  ctx: JobContext<Input, Result>,
  // biome-ignore lint/suspicious/noConfusingVoidType: work functions that return nothing are typed `void`
) => Promise<Result | undefined | void> | Result | undefined | void;

export interface RunOptions {
  /** Each attempt ends as failed, and its signal aborts, after this long. At most 2³¹−1 ms. */
  timeoutMs?: number;
}

/** How a job's work is run: one attempt after another until one succeeds or none are left. */
export interface Plan {
  work: JobWork;
  timeoutMs: number | undefined;
  /** The pause before retry `n` (1 for the first retry). */
  backoff(retry: number): number;
  approval: JobContext['approval'];
}

/** What the runner needs from its registry. */
export interface RunnerHost {
  /** Checks a patch of ctx's against the registry's limits; throws a JobsError naming the field. */
  check(id: string, patch: unknown): JobPatch;
  /** Writes a change (checked already, or the runner's own). */
  write(id: string, change: JobChange): Promise<Job>;
  appendLog(id: string, text: string, level: LogLevel): Promise<void>;
  get(id: string): Job | undefined;
  readonly limits: Readonly<JobLimits>;
  isClosed(): boolean;
  report(error: unknown): void;
  /** Runs one attempt's work (an instrumentation's `attempt` hook); absent, the work is called as is. */
  attempt?: <T>(job: Job, work: () => T) => T;
}

type Ending = { state: 'warning' | 'pending'; message: string };

/** Aborts an attempt that ran out of time; never thrown by a work function itself. */
class Timeout extends Error {
  constructor(ms: number) {
    super(`Timed out after ${ms} ms`);
  }
}

/**
 * Runs work functions for a registry: each attempt with its own timeout, retries with backoff while
 * attempts are left, and the job's end by how the last attempt ended (return → `success`, `ctx.warn` →
 * `warning`, `ctx.awaitApproval` → `pending`, throw or timeout → `error` with a code). Whatever the
 * work throws or returns, the job ends and nothing escapes into the host process as an unhandled
 * rejection.
 */
export function createRunner(host: RunnerHost) {
  const running = new Map<string, AbortController>();
  /** Text a job may carry as its message: a string, at most the message limit long. */
  const messageText = (value: unknown): string => {
    const text = typeof value === 'string' ? value : errorMessage(value);
    return text.length > host.limits.messageLength ? text.slice(0, host.limits.messageLength) : text;
  };

  /** One attempt: resolves with how it ended, never rejects. */
  async function attempt(job: Job, plan: Plan, jobSignal: AbortSignal) {
    const timer = new AbortController();
    const signal = AbortSignal.any([jobSignal, timer.signal]);
    const id = job.id;
    let ending: Ending | null = null;
    const alive = () => !signal.aborted && !host.isClosed() && isBusy(host.get(id)?.state ?? 'error');
    /** ctx's writes: checked at once, then written; ignored once the attempt is over; never rejecting. */
    const apply = (unchecked: JobPatch): Promise<void> => {
      if (!alive()) return Promise.resolve();
      return host.write(id, host.check(id, unchecked)).then(
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
      input: job.data,
      attempt: job.attempt,
      approval: plan.approval,
      signal,
      progress: (value, details = {}) => apply(progressPatch(value, details)),
      update: (patch) => apply(contextPatch(patch)),
      log: (text, options = {}) => {
        const level = logLevel(options);
        if (!alive()) return Promise.resolve();
        return host.appendLog(id, messageLine(text, host.limits.logLineLength), level).catch((error) => {
          if (alive()) host.report(new Error(`job ${id}: ${errorMessage(error)}`, { cause: error }));
        });
      },
      warn: (message) => {
        ending = { state: 'warning', message: messageText(message) };
      },
      awaitApproval: (message) => {
        ending = { state: 'pending', message: messageText(message) };
      },
    };
    const timeout =
      plan.timeoutMs === undefined
        ? null
        : setTimeout(() => timer.abort(new Timeout(plan.timeoutMs as number)), plan.timeoutMs);
    (timeout as { unref?: () => void } | null)?.unref?.();
    const timedOut = aborted(timer.signal);
    timedOut.catch(() => {}); // raced below; never left unhandled when the work wins
    try {
      const work = host.attempt ? host.attempt(job, () => plan.work(ctx)) : plan.work(ctx);
      const result = await Promise.race([work, timedOut]);
      return { ok: true as const, result, ending: ending as Ending | null };
    } catch (error) {
      return { ok: false as const, error: timer.signal.aborted ? timer.signal.reason : error };
    } finally {
      if (timeout) clearTimeout(timeout);
    }
  }

  async function execute(first: Job, plan: Plan, controller: AbortController): Promise<void> {
    const id = first.id;
    const alive = () => !controller.signal.aborted && !host.isClosed() && isBusy(host.get(id)?.state ?? 'error');
    let job = first;
    for (;;) {
      // Cancelled (or ended elsewhere) between being started and running: its work never starts.
      if (!alive()) return;
      const outcome = await attempt(job, plan, controller.signal);
      if (!alive()) return;
      if (outcome.ok) {
        const change: JobChange = { state: outcome.ending?.state ?? 'success' };
        if (outcome.ending) change.message = outcome.ending.message;
        try {
          if (outcome.result !== undefined && outcome.result !== null) {
            change.result = host.check(id, { data: outcome.result }).data ?? null;
          }
          await host.write(id, change);
        } catch (error) {
          // The result itself was invalid (not JSON, too large): say so instead of leaving the job busy.
          if (alive()) await host.write(id, failure(job, error, 'invalid_result'));
        }
        return;
      }
      const error = outcome.error;
      const code = error instanceof Timeout ? 'timeout' : errorCode(error);
      if (job.attempt >= job.maxAttempts) {
        await host.write(id, failure(job, error, code));
        return;
      }
      const wait = plan.backoff(job.attempt);
      await host.write(id, {
        phase: 'retrying',
        message: messageText(
          `Attempt ${job.attempt} of ${job.maxAttempts} failed: ${errorMessage(error)}. Retrying in ${seconds(wait)}.`,
        ),
        error: { code, message: messageText(error), attempt: job.attempt },
      });
      await Promise.race([delay(wait), aborted(controller.signal).catch(() => {})]);
      if (!alive()) return;
      job = await host.write(id, {
        attempt: job.attempt + 1,
        phase: null,
        message: `Attempt ${job.attempt + 1} of ${job.maxAttempts}`,
      });
    }
  }

  function failure(job: Job, error: unknown, code: string): JobChange {
    const message = messageText(error);
    return { state: 'error', message, error: { code, message, attempt: job.attempt } };
  }

  return {
    /** Runs a job that was just started (written `running`) on this instance. Never rejects. */
    execute(job: Job, plan: Plan): void {
      const controller = new AbortController();
      running.set(job.id, controller);
      execute(job, plan, controller)
        .catch((error) => {
          host.report(error);
          // Never leave it running: whatever failed, end it (a write that fails now is reported).
          if (isBusy(host.get(job.id)?.state ?? 'error') && !host.isClosed()) {
            host.write(job.id, failure(job, error, 'thrown')).catch((again) => host.report(again));
          }
        })
        .finally(() => running.delete(job.id));
    },
    /** The job ended (here or elsewhere): abort its work if it runs here. */
    ended(id: string) {
      running.get(id)?.abort(new JobsError('closed', `Job ${id} has ended`, { jobId: id }));
    },
    isRunning(id: string): boolean {
      return running.has(id);
    },
    abortAll() {
      for (const controller of running.values()) controller.abort(new JobsError('closed', 'The job registry closed'));
    },
  };
}

/** A promise that rejects when `signal` aborts (with its reason). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/**
 * A failure's code: a JobsError's, an error's own string `code` (`ECONNREFUSED`), or `thrown`. Never
 * throws, whatever it is given.
 */
export function errorCode(error: unknown): string {
  try {
    if (error instanceof JobsError) return error.code;
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(code)) return code;
  } catch {
    // A Proxy or a throwing getter: it is still a thrown value.
  }
  return 'thrown';
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

function messageLine(text: unknown, max: number): string {
  const line = typeof text === 'string' ? text : errorMessage(text);
  return line.length > max ? line.slice(0, max) : line;
}

function logLevel(options: { level?: LogLevel }): LogLevel {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_input', 'ctx.log: options must be an object', { field: 'options' });
  }
  const level = options.level ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new JobsError('invalid_input', `ctx.log: \`level\` must be one of ${LOG_LEVELS.join(', ')}`, {
      field: 'level',
    });
  }
  return level;
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
