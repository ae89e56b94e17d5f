import {
  JOB_ID_PATTERN,
  JOB_STATES,
  type Job,
  type JobError,
  type JobLimits,
  type JsonObject,
  NAME_PATTERN,
} from '../protocol/job.js';

/**
 * The fast path of reading a stored job: plain checks that accept exactly what the zod schema of
 * `validate.ts` accepts for a well-formed record, and build the same object (the Job interface's field
 * order, 0.1's missing fields filled in). Loading 100,000 jobs spent most of its time in zod; a record
 * this path does not accept goes to zod, which says what is wrong with it.
 */

/** ISO-8601 UTC with a real calendar date, as zod's `z.iso.datetime()` checks it. */
const ISO_UTC =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z))$/;

const FIELDS = new Set([
  'id',
  'category',
  'target',
  'scope',
  'state',
  'phase',
  'progress',
  'message',
  'data',
  'result',
  'error',
  'attempt',
  'maxAttempts',
  'retryOf',
  'key',
  'queuedAt',
  'startedAt',
  'finishedAt',
  'updatedAt',
  'version',
]);
const STATES: ReadonlySet<string> = new Set(JOB_STATES);

const isPlain = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};
const isName = (value: unknown, max: number) =>
  typeof value === 'string' && value.length >= 1 && value.length <= max && NAME_PATTERN.test(value);
const isText = (value: unknown, max: number) => value === null || (typeof value === 'string' && value.length <= max);
const isTime = (value: unknown) => typeof value === 'string' && ISO_UTC.test(value);
const isCount = (value: unknown, min: number) => Number.isSafeInteger(value) && (value as number) >= min;

/** The stored job, or null when the record needs the full schema (to be refused with a reason). */
export function fastStoredJob(value: unknown, limits: Readonly<JobLimits>): Job | null {
  if (!isPlain(value)) return null;
  for (const key in value) if (!FIELDS.has(key)) return null;
  const v = value;
  if (typeof v.id !== 'string' || !JOB_ID_PATTERN.test(v.id)) return null;
  if (!isName(v.category, limits.categoryLength) || !isName(v.scope, limits.scopeLength)) return null;
  if (typeof v.state !== 'string' || !STATES.has(v.state)) return null;
  if (!isText(v.phase, limits.phaseLength) || !isText(v.message, limits.messageLength)) return null;
  if (v.progress !== null && !(typeof v.progress === 'number' && v.progress >= 0 && v.progress <= 1)) return null;
  if (!isPlain(v.data)) return null;
  if (v.result !== undefined && v.result !== null && !isPlain(v.result)) return null;
  if (v.attempt !== undefined && !isCount(v.attempt, 0)) return null;
  if (v.maxAttempts !== undefined && !isCount(v.maxAttempts, 1)) return null;
  if (
    v.retryOf !== undefined &&
    v.retryOf !== null &&
    !(typeof v.retryOf === 'string' && JOB_ID_PATTERN.test(v.retryOf))
  ) {
    return null;
  }
  if (
    v.key !== undefined &&
    v.key !== null &&
    !(typeof v.key === 'string' && v.key.length >= 1 && v.key.length <= limits.keyLength)
  ) {
    return null;
  }
  if (!isTime(v.queuedAt) || !isTime(v.updatedAt)) return null;
  if ((v.startedAt !== null && !isTime(v.startedAt)) || (v.finishedAt !== null && !isTime(v.finishedAt))) return null;
  if (!isCount(v.version, 1)) return null;
  const target = fastTarget(v.target, limits);
  const error = fastError(v.error, limits);
  if (target === null || error === false) return null;
  return {
    id: v.id,
    category: v.category as string,
    target,
    scope: v.scope as string,
    state: v.state as Job['state'],
    phase: v.phase as string | null,
    progress: v.progress as number | null,
    message: v.message as string | null,
    data: v.data as JsonObject,
    result: (v.result ?? null) as JsonObject | null,
    error,
    attempt: (v.attempt ?? 0) as number,
    maxAttempts: (v.maxAttempts ?? 1) as number,
    retryOf: (v.retryOf ?? null) as string | null,
    key: (v.key ?? null) as string | null,
    queuedAt: v.queuedAt as string,
    startedAt: v.startedAt as string | null,
    finishedAt: v.finishedAt as string | null,
    updatedAt: v.updatedAt as string,
    version: v.version as number,
  };
}

function fastTarget(value: unknown, limits: Readonly<JobLimits>): Record<string, string> | null {
  if (!isPlain(value)) return null;
  const target: Record<string, string> = {};
  let entries = 0;
  for (const [key, entry] of Object.entries(value)) {
    if (++entries > limits.targetEntries) return null;
    if (key.length > limits.targetKeyLength || !NAME_PATTERN.test(key)) return null;
    if (typeof entry !== 'string' || entry.length > limits.targetValueLength) return null;
    target[key] = entry;
  }
  return target;
}

/** The stored error, null for none, or false when it needs the full schema. */
function fastError(value: unknown, limits: Readonly<JobLimits>): JobError | null | false {
  if (value === undefined || value === null) return null;
  if (!isPlain(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 3) return false;
  const { code, message, attempt } = value;
  if (typeof code !== 'string' || code.length < 1 || code.length > 100) return false;
  if (typeof message !== 'string' || message.length > limits.messageLength) return false;
  if (!isCount(attempt, 0)) return false;
  return { code, message, attempt: attempt as number };
}
