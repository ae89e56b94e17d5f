import { errorMessage, JobsError } from '../protocol/errors.js';
import { isTerminal, type Job, type JsonObject } from '../protocol/job.js';
import {
  checkDefinition,
  type Definition,
  type DefinitionRunOptions,
  type JobDefinitionOptions,
  slotOf,
} from './definitions.js';
import type { JobChange } from './next-version.js';
import type { ActionOptions } from './registry-api.js';
import type { JobWork, Plan } from './runner.js';
import type { WriteOptions } from './store.js';
import type { EnqueueInput } from './validate.js';

/** What the definitions need from their registry. */
export interface DefinitionsHost {
  /** `limits.messageLength`: the actions' own messages ("Approved by …") are cut to it. */
  readonly messageLength: number;
  create(
    input: EnqueueInput,
    extra: { maxAttempts: number; retryOf?: string },
  ): Promise<{ job: Job; created: boolean }>;
  write(id: string, change: JobChange): Promise<Job>;
  /** Queues an owned job to start with `plan` once its slot allows. */
  start(job: Job, plan: Plan): void;
  /** The job, or a `not_found` JobsError. */
  require(id: string): Job;
  /** A busy job held here that retries `job` (`retryOf` its id), if there is one. */
  busyRetryOf(job: Job): Job | undefined;
  checkCategory(category: string): void;
  report(error: unknown): void;
}

/**
 * The registry's definitions and what runs through them: `run(category, input)`, and the operator's
 * actions that need a definition (`retry`, `approve`, `reject`).
 */
export class Definitions {
  readonly #host: DefinitionsHost;
  readonly #byCategory = new Map<string, Definition>();
  /** Retries being created, by the id of the job they retry: a second one answers the first's job. */
  readonly #retrying = new Map<string, Promise<Job>>();

  constructor(host: DefinitionsHost) {
    this.#host = host;
  }

  define(category: string, work: JobWork, options: JobDefinitionOptions): void {
    this.#host.checkCategory(category);
    if (this.#byCategory.has(category)) {
      throw new JobsError('invalid_options', `define: ${JSON.stringify(category)} is defined already`, {
        field: 'category',
      });
    }
    this.#byCategory.set(category, checkDefinition(category, work, options));
  }

  /** The concurrency slot of a job, when its definition limits its concurrency. */
  slotOf(job: Job): WriteOptions['slot'] {
    return slotOf(this.#byCategory.get(job.category), job);
  }

  async run(category: string, input: JsonObject, options: DefinitionRunOptions = {}, retryOf?: string): Promise<Job> {
    const definition = this.#definition(category);
    if (typeof options !== 'object' || options === null) {
      throw new JobsError('invalid_input', 'run: options must be an object', { field: 'options' });
    }
    const target = options.target ?? (definition.target ? definition.target(input) : undefined);
    const { job, created } = await this.#host.create(
      {
        category,
        target,
        data: input,
        key: options.key,
        scope: options.scope ?? definition.scope,
        message: options.message,
      },
      { maxAttempts: definition.retries + 1, retryOf },
    );
    if (created) this.#host.start(job, planFor(definition, null));
    return job;
  }

  /**
   * A finished job, run again with the same input, key and target: a new job, `retryOf` the old. While
   * a retry of it is being created or is still busy, another answers that job rather than running the
   * work twice (a double click), as a retry with a `key` already did.
   */
  async retry(id: string, options: ActionOptions = {}): Promise<Job> {
    const job = this.#host.require(id);
    if (!isTerminal(job.state)) {
      throw new JobsError('invalid_transition', `Job ${id} is ${job.state}: only a finished job is retried`, {
        jobId: id,
        field: 'state',
      });
    }
    const by = actor(options);
    const underway = this.#retrying.get(id) ?? this.#host.busyRetryOf(job);
    if (underway) return underway;
    const again = {
      key: job.key ?? undefined,
      target: { ...job.target },
      scope: job.scope,
      message: by ? this.#clip(`Retried by ${by}`) : undefined,
    };
    const created = this.run(job.category, job.data as JsonObject, again, job.id);
    this.#retrying.set(id, created);
    try {
      return await created;
    } finally {
      this.#retrying.delete(id);
    }
  }

  /** A pending job, queued again; its definition's `onApprove` (or its work) runs with `ctx.approval`. */
  async approve(id: string, options: ActionOptions = {}): Promise<Job> {
    const job = this.#pending(id, 'approved');
    const definition = this.#definition(job.category);
    const by = actor(options);
    const queued = await this.#host.write(id, {
      state: 'queued',
      message: this.#clip(by ? `Approved by ${by}` : 'Approved'),
      maxAttempts: job.attempt + 1,
      // Checked again at the write: a reject or approve that came first wins, this one is refused.
      onlyFrom: { state: 'pending', action: 'approved' },
    });
    this.#host.start(queued, planFor(definition, { by, at: new Date().toISOString() }));
    return queued;
  }

  /** A pending job, cancelled; its definition's `onReject` then releases what it held. */
  async reject(id: string, options: ActionOptions & { message?: string } = {}): Promise<Job> {
    const job = this.#pending(id, 'rejected');
    const by = actor(options);
    const message = options.message ?? this.#clip(by ? `Rejected by ${by}` : 'Rejected');
    const rejected = await this.#host.write(id, {
      state: 'cancelled',
      message,
      onlyFrom: { state: 'pending', action: 'rejected' },
    });
    const onReject = this.#byCategory.get(job.category)?.onReject;
    if (onReject) {
      try {
        await onReject(rejected);
      } catch (error) {
        this.#host.report(new Error(`onReject of ${job.category} threw: ${errorMessage(error)}`, { cause: error }));
      }
    }
    return rejected;
  }

  /**
   * A message of the library's own, cut to the limit: `by` may be 200 characters, and a stored message
   * over the limit would make the job unreadable to a store loading it again.
   */
  #clip(message: string): string {
    return message.slice(0, this.#host.messageLength);
  }

  #definition(category: string): Definition {
    const definition = this.#byCategory.get(category);
    if (!definition) {
      throw new JobsError(
        'invalid_transition',
        `No definition for ${JSON.stringify(category)} on this instance (define() it)`,
        { field: 'category' },
      );
    }
    return definition;
  }

  #pending(id: string, what: string): Job {
    const job = this.#host.require(id);
    if (job.state !== 'pending') {
      throw new JobsError('invalid_transition', `Job ${id} is ${job.state}: only a pending job is ${what}`, {
        jobId: id,
        field: 'state',
      });
    }
    return job;
  }
}

function planFor(definition: Definition, approval: Plan['approval']): Plan {
  const work = approval ? (definition.onApprove ?? definition.work) : definition.work;
  return { work, timeoutMs: definition.timeoutMs, backoff: definition.backoff, approval };
}

function actor(options: ActionOptions): string | null {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_input', 'options must be an object', { field: 'options' });
  }
  if (options.by === undefined) return null;
  if (typeof options.by !== 'string' || options.by.length > 200) {
    throw new JobsError('invalid_input', '`by` must be a string of at most 200 characters', { field: 'by' });
  }
  return options.by;
}
