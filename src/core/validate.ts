import { z } from 'zod';
import { JobsError } from '../protocol/errors.js';
import {
  BUSY_STATES,
  DEFAULT_LIMITS,
  isBusy,
  JOB_ID_PATTERN,
  JOB_STATES,
  type Job,
  type JobLimits,
  type JobState,
  type JsonObject,
  LOG_LEVELS,
  type LogLine,
  NAME_CHARACTERS,
  NAME_PATTERN,
} from '../protocol/job.js';
import { fastStoredJob } from './stored-job.js';

const MAX_DATA_DEPTH = 32;
const utf8 = new TextEncoder();

/** Checks a value is plain JSON (no cycles, functions, class instances, non-finite numbers). */
function jsonProblem(value: unknown, depth: number): string | null {
  if (depth > MAX_DATA_DEPTH) return `nests deeper than ${MAX_DATA_DEPTH} levels`;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'holds a number that is not finite';
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonProblem(item, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    for (const item of Object.values(value)) {
      const problem = jsonProblem(item, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  return `holds a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}, which is not JSON`;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function schemas(limits: JobLimits) {
  const name = (what: string, max: number) =>
    z
      .string({ error: `must be a string` })
      .min(1, { error: `must not be empty` })
      .max(max, { error: `must be at most ${max} characters` })
      .regex(NAME_PATTERN, { error: `may only hold ${NAME_CHARACTERS} (${what})` });

  const target = z
    .record(
      z.string().max(limits.targetKeyLength).regex(NAME_PATTERN),
      z
        .string({ error: 'values must be strings' })
        .max(limits.targetValueLength, { error: `values must be at most ${limits.targetValueLength} characters` }),
      {
        error: (issue) =>
          issue.code === 'invalid_key'
            ? `keys may only hold ${NAME_CHARACTERS} (at most ${limits.targetKeyLength})`
            : 'must be an object of strings',
      },
    )
    .refine((value) => Object.keys(value).length <= limits.targetEntries, {
      error: `must have at most ${limits.targetEntries} entries`,
    });

  const data = z.custom<JsonObject>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && isPlainObject(value),
    { error: 'must be a plain JSON object' },
  );

  const textOrNull = (max: number) =>
    z
      .string({ error: 'must be a string or null' })
      .max(max, { error: `must be at most ${max} characters` })
      .nullable();

  const fields = {
    state: z.enum(JOB_STATES, { error: `must be one of ${JOB_STATES.join(', ')}` }),
    phase: textOrNull(limits.phaseLength),
    progress: z
      .number({ error: 'must be a number or null' })
      .min(0, { error: 'must be between 0 and 1' })
      .max(1, { error: 'must be between 0 and 1' })
      .nullable(),
    message: textOrNull(limits.messageLength),
    data,
  };

  const enqueue = z.strictObject(
    {
      category: name('category', limits.categoryLength),
      target: target.optional(),
      scope: name('scope', limits.scopeLength).optional(),
      key: z
        .string({ error: 'must be a string' })
        .min(1, { error: 'must not be empty' })
        .max(limits.keyLength, { error: `must be at most ${limits.keyLength} characters` })
        .optional(),
      // A job starts busy: it cannot be created finished.
      state: z
        .custom<NonNullable<EnqueueInput['state']>>((value) => typeof value === 'string' && isBusy(value), {
          error: `must be ${inWords(BUSY_STATES)}`,
        })
        .optional(),
      phase: fields.phase.optional(),
      progress: fields.progress.optional(),
      message: fields.message.optional(),
      data: data.optional(),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? 'is not a job field' : 'must be an object') },
  );

  const update = z.strictObject(
    {
      state: fields.state.optional(),
      phase: fields.phase.optional(),
      progress: fields.progress.optional(),
      message: fields.message.optional(),
      data: data.optional(),
    },
    {
      error: (issue) => (issue.code === 'unrecognized_keys' ? 'is not a field an update may set' : 'must be an object'),
    },
  );

  const timestamp = z.iso.datetime({ error: 'must be an ISO-8601 UTC time' });
  const job = z.strictObject({
    id: z.string().regex(JOB_ID_PATTERN, { error: 'must be a URL-safe id' }),
    category: name('category', limits.categoryLength),
    target,
    scope: name('scope', limits.scopeLength),
    state: fields.state,
    phase: fields.phase,
    progress: fields.progress,
    message: fields.message,
    data,
    // Jobs recorded by 0.1 have none of these: they load with the defaults.
    result: data.nullable().default(null),
    error: z
      .strictObject({
        code: z.string().min(1).max(100),
        message: z.string().max(limits.messageLength),
        attempt: z.number().int().min(0),
      })
      .nullable()
      .default(null),
    attempt: z.number().int().min(0).default(0),
    maxAttempts: z.number().int().min(1).default(1),
    retryOf: z.string().regex(JOB_ID_PATTERN).nullable().default(null),
    key: z.string().min(1).max(limits.keyLength).nullable().default(null),
    queuedAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    updatedAt: timestamp,
    version: z.number().int().min(1),
  });

  const logLine = z.strictObject({
    seq: z.number().int().min(1),
    at: timestamp,
    level: z.enum(LOG_LEVELS),
    text: z.string().max(limits.logLineLength),
  });

  return { enqueue, update, job, logLine };
}

/** What `enqueue` takes. */
export interface EnqueueInput {
  category: string;
  target?: Record<string, string>;
  /** @default 'admin' */
  scope?: string;
  /** Idempotency key: a busy job with the same category, target and key is returned instead of a new one. */
  key?: string;
  /** @default 'queued' */
  state?: 'queued' | 'pending' | 'running';
  phase?: string | null;
  progress?: number | null;
  message?: string | null;
  data?: JsonObject;
}

/** What `update` takes: every field optional, nothing else allowed. */
export interface JobPatch {
  state?: JobState;
  phase?: string | null;
  progress?: number | null;
  message?: string | null;
  /** Replaces `data` as a whole. */
  data?: JsonObject;
}

/** `a, b or c`. */
function inWords(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

function fail(error: z.ZodError, what: string, jobId?: string): never {
  const issue = error.issues[0];
  if (!issue) throw new JobsError('invalid_input', `${what}: invalid input`, { jobId });
  const segments = issue.path.map(String);
  // An unknown key is named even when it is the empty string.
  if (issue.code === 'unrecognized_keys') segments.push(String(issue.keys[0]));
  const field = segments.length > 0 ? segments.join('.') : undefined;
  const message = `${what}: ${field !== undefined ? `\`${field}\` ` : ''}${issue.message}`;
  throw new JobsError('invalid_input', message, { field, jobId });
}

export interface JobValidator {
  readonly limits: Readonly<JobLimits>;
  enqueueInput(input: unknown): EnqueueInput;
  patch(jobId: string, patch: unknown): JobPatch;
  /** Parses a stored snapshot; throws a {@link JobsError} naming the field when it is not a job. */
  storedJob(value: unknown): Job;
  /** Parses a stored log line; throws a {@link JobsError} naming the field when it is not one. */
  storedLogLine(value: unknown): LogLine;
}

/** Validation for one set of limits. `data` is returned as a private deep copy. */
export function createJobValidator(
  overrides: Partial<JobLimits> = {},
  /** Tests compare the fast path of `storedJob` with zod alone. */
  options: { fastStoredJobs?: boolean } = {},
): JobValidator {
  const fastPath = options.fastStoredJobs !== false;
  const limits = resolveLimits(overrides);
  const s = schemas(limits);

  const checkData = <T extends { data?: unknown }>(value: T, what: string, jobId?: string): T => {
    if (value.data === undefined) return value;
    const problem = jsonProblem(value.data, 0);
    if (problem) throw new JobsError('invalid_input', `${what}: \`data\` ${problem}`, { field: 'data', jobId });
    const json = JSON.stringify(value.data);
    const bytes = utf8.encode(json).byteLength;
    if (bytes > limits.dataBytes) {
      throw new JobsError(
        'invalid_input',
        `${what}: \`data\` is ${bytes} bytes as JSON, over the limit of ${limits.dataBytes}`,
        { field: 'data', jobId },
      );
    }
    return { ...value, data: JSON.parse(json) };
  };

  return {
    limits,
    enqueueInput(input) {
      const result = s.enqueue.safeParse(input);
      if (!result.success) fail(result.error, 'enqueue');
      return checkData(result.data as EnqueueInput, 'enqueue');
    },
    patch(jobId, patch) {
      const result = s.update.safeParse(patch);
      if (!result.success) fail(result.error, `update of job ${jobId}`, jobId);
      return checkData(result.data as JobPatch, `update of job ${jobId}`, jobId);
    },
    storedJob(value) {
      const fast = fastPath ? fastStoredJob(value, limits) : null;
      if (fast) return fast;
      const result = s.job.safeParse(value);
      if (!result.success) fail(result.error, 'stored job');
      return result.data as Job;
    },
    storedLogLine(value) {
      const result = s.logLine.safeParse(value);
      if (!result.success) fail(result.error, 'stored log line');
      return result.data as LogLine;
    },
  };
}

function resolveLimits(overrides: Partial<JobLimits>): JobLimits {
  if (typeof overrides !== 'object' || overrides === null) {
    throw new JobsError('invalid_options', '`limits` must be an object', { field: 'limits' });
  }
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in DEFAULT_LIMITS)) {
      throw new JobsError('invalid_options', `\`limits.${key}\` is not a limit`, { field: `limits.${key}` });
    }
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new JobsError('invalid_options', `\`limits.${key}\` must be a positive integer`, {
        field: `limits.${key}`,
      });
    }
    limits[key as keyof JobLimits] = value as number;
  }
  return limits;
}
