import { JobsError } from '../protocol/errors.js';
import type { Job, JsonObject } from '../protocol/job.js';
import { functionOption, integerOption, timerOption } from './options.js';
import type { JobWork } from './runner.js';
import type { WriteOptions } from './store.js';

/** How a definition's jobs run. */
export interface JobDefinitionOptions<Input extends JsonObject = JsonObject, Result extends JsonObject = JsonObject> {
  /**
   * What a job works on, from its input; `run(…, { target })` overrides it.
   * @default none: `{}`
   * @example (input) => ({ peer: input.peer })
   */
  target?: (input: Input) => Record<string, string>;
  /** Who may see its jobs. @default 'admin' */
  scope?: string;
  /**
   * How many of its jobs may run at once, across every instance on a shared store. Others stay
   * `queued`, first come first served.
   * @default unlimited
   */
  concurrency?: number;
  /** `category`: one queue for all its jobs; `target`: one queue per target (e.g. one push per peer). @default 'category' */
  concurrencyPer?: 'category' | 'target';
  /** Each attempt ends as failed after this long. At most 2³¹−1 ms. */
  timeoutMs?: number;
  /** Runs after the first that a failed job may take. @default 0 */
  retries?: number;
  /** The pause before a retry: `delayMs × factor^(retry−1)`, at most `maxDelayMs`. @default { delayMs: 1000, factor: 2, maxDelayMs: 60000 } */
  backoff?: { delayMs?: number; factor?: number; maxDelayMs?: number };
  /** Runs when a person approves a `pending` job (the `approve` action). @default the work itself again */
  onApprove?: JobWork<Input, Result>;
  /** Runs when a person rejects a `pending` job (after it is `cancelled`): release what it held. */
  onReject?: (job: Job<Input, Result>) => void | Promise<void>;
}

/** Options of one run of a definition. */
export interface DefinitionRunOptions {
  /** Idempotency key: while a job with the same category, target and key is busy, `run` answers it. */
  key?: string;
  /** Overrides the definition's `target`. */
  target?: Record<string, string>;
  scope?: string;
  message?: string;
}

/** A registered definition: run it with its input. */
export interface JobDefinition<Input extends JsonObject = JsonObject, Result extends JsonObject = JsonObject> {
  readonly category: string;
  /** Queues a job with this input; resolves with its queued snapshot (or the busy one holding `key`). */
  run(input: Input, options?: DefinitionRunOptions): Promise<Job<Input, Result>>;
}

/** A definition as the registry keeps it, its options checked. */
export interface Definition {
  category: string;
  work: JobWork;
  target: ((input: JsonObject) => Record<string, string>) | undefined;
  scope: string | undefined;
  concurrency: number;
  concurrencyPer: 'category' | 'target';
  timeoutMs: number | undefined;
  retries: number;
  backoff(retry: number): number;
  onApprove: JobWork | undefined;
  onReject: ((job: Job) => void | Promise<void>) | undefined;
}

const OPTIONS = [
  'target',
  'scope',
  'concurrency',
  'concurrencyPer',
  'timeoutMs',
  'retries',
  'backoff',
  'onApprove',
  'onReject',
];

/** Checks a definition; a bad option throws `invalid_options` naming it. */
export function checkDefinition(category: string, work: unknown, options: JobDefinitionOptions = {}): Definition {
  const owner = `define(${JSON.stringify(category)})`;
  if (typeof work !== 'function') {
    throw new JobsError('invalid_options', `${owner}: the work must be a function`, { field: 'work' });
  }
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', `${owner}: options must be an object`, { field: 'options' });
  }
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) {
      throw new JobsError('invalid_options', `${owner}: \`${key}\` is not an option`, { field: key });
    }
  }
  const per = options.concurrencyPer ?? 'category';
  if (per !== 'category' && per !== 'target') {
    throw new JobsError('invalid_options', `${owner}: \`concurrencyPer\` must be 'category' or 'target'`, {
      field: 'concurrencyPer',
    });
  }
  const backoff = options.backoff ?? {};
  if (typeof backoff !== 'object' || backoff === null) {
    throw new JobsError('invalid_options', `${owner}: \`backoff\` must be an object`, { field: 'backoff' });
  }
  const delayMs = timerOption(owner, 'backoff.delayMs', backoff.delayMs, 1000, 0);
  const maxDelayMs = timerOption(owner, 'backoff.maxDelayMs', backoff.maxDelayMs, 60_000, 0);
  const factor = backoff.factor ?? 2;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1 || factor > 100) {
    throw new JobsError('invalid_options', `${owner}: \`backoff.factor\` must be a number from 1 to 100`, {
      field: 'backoff.factor',
    });
  }
  if (options.scope !== undefined && typeof options.scope !== 'string') {
    throw new JobsError('invalid_options', `${owner}: \`scope\` must be a string`, { field: 'scope' });
  }
  return {
    category,
    work: work as JobWork,
    target: functionOption(owner, 'target', options.target as Definition['target'], undefined),
    scope: options.scope,
    concurrency: integerOption(owner, 'concurrency', options.concurrency, Number.MAX_SAFE_INTEGER, 1),
    concurrencyPer: per,
    timeoutMs: options.timeoutMs === undefined ? undefined : timerOption(owner, 'timeoutMs', options.timeoutMs, 0, 1),
    retries: integerOption(owner, 'retries', options.retries, 0, 0, 100),
    backoff: (retry) => Math.min(maxDelayMs, Math.round(delayMs * factor ** (retry - 1))),
    onApprove: functionOption(owner, 'onApprove', options.onApprove as JobWork | undefined, undefined),
    onReject: functionOption(owner, 'onReject', options.onReject as Definition['onReject'], undefined),
  };
}

/** The concurrency slot of a definition's job, when its concurrency is limited. */
export function slotOf(definition: Definition | undefined, job: Job): WriteOptions['slot'] {
  if (!definition || definition.concurrency === Number.MAX_SAFE_INTEGER) return undefined;
  if (definition.concurrencyPer === 'category') return { name: job.category, limit: definition.concurrency };
  const target = Object.entries(job.target).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { name: `${job.category} ${JSON.stringify(target)}`, limit: definition.concurrency };
}
