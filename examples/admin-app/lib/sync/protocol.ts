import { z } from 'zod';

/**
 * The messages two peers exchange, as zod schemas: every field of every call's body and of every
 * answer is checked before it is used, on both ends. A peer is authenticated, not trusted: its key
 * may be right and its data still wrong (another version, a bug, a stolen secret).
 */

/** Records per chunk: small, so even the demo dataset travels in several steps ("chunk 3 of 5"). */
export const CHUNK_SIZE = 5;
/** The most chunks one transfer may have, and so the most records one bundle may hold. */
export const MAX_CHUNKS = 1000;
export const MAX_RECORDS = MAX_CHUNKS * CHUNK_SIZE;
/** The largest body either end reads: a full chunk is about 12 KB. */
export const MAX_BODY_BYTES = 256 * 1024;

/** A message for a field's every problem, saying "is missing" when it is. */
const expecting = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is missing' : `must be ${what}`;

const text = (max: number) => {
  const what = `a string of 1 to ${max} characters`;
  return z
    .string({ error: expecting(what) })
    .min(1, { error: `must be ${what}` })
    .max(max, { error: `must be ${what}` });
};
const integer = (min: number, max: number) => {
  const what = `an integer from ${min} to ${max}`;
  return z
    .int({ error: expecting(what) })
    .min(min, { error: `must be ${what}` })
    .max(max, { error: `must be ${what}` });
};
const hex64 = z
  .string({ error: expecting('64 hex digits') })
  .regex(/^[0-9a-f]{64}$/, { error: 'must be 64 hex digits' });
const transferId = z.uuid({ error: expecting('a UUID') });
const object = <Shape extends z.ZodRawShape>(shape: Shape) => z.object(shape, { error: expecting('an object') });

/** One record as it travels: anything else is refused, field by field; unknown fields are dropped. */
export const syncRecord = object({
  id: text(100),
  title: text(200),
  body: text(2000),
  origin: text(100),
  created_at: z.iso.datetime({ error: expecting('an ISO 8601 UTC time (2026-01-31T12:00:00.000Z)') }),
});
export type SyncRecord = z.infer<typeof syncRecord>;

export const records = z.array(syncRecord, { error: expecting('an array') });
/** One chunk: a PUT's body on the way in (push), a GET's answer on the way out (pull). */
export const chunk = object({
  records: records.max(CHUNK_SIZE, { error: `must hold at most ${CHUNK_SIZE} records` }),
});

/** How many chunks a bundle of `count` records travels in (an empty bundle is one empty chunk). */
export const chunksFor = (count: number) => Math.max(1, Math.ceil(count / CHUNK_SIZE));

// --- the pusher's calls and the answers it gets ----------------------------------------------------
export const openInbox = object({ chunks: integer(1, MAX_CHUNKS) });
export const inboxOpened = object({ transferId });
export const verifyBundle = object({ digest: hex64, signature: hex64.nullable() });
export const verdict = object({
  signed: z.boolean({ error: expecting('true or false') }),
  count: integer(0, MAX_RECORDS),
});
export const applyBundle = object({ acceptUnsigned: z.boolean({ error: expecting('true or false') }) });
export const applied = object({ added: integer(0, MAX_RECORDS) });

// --- the puller's calls and the answers it gets ----------------------------------------------------
export const openOutbox = object({});
export const manifest = object({
  transferId,
  from: text(63),
  count: integer(0, MAX_RECORDS),
  chunks: integer(1, MAX_CHUNKS),
  digest: hex64,
  signature: hex64.nullable(),
}).check((ctx) => {
  const { count, chunks } = ctx.value;
  if (chunks !== chunksFor(count)) {
    ctx.issues.push({
      code: 'custom',
      input: chunks,
      path: ['chunks'],
      message: `must be ${chunksFor(count)} for ${count} records in chunks of ${CHUNK_SIZE}`,
    });
  }
});
export type Manifest = z.infer<typeof manifest>;

/** A transfer id in a path. */
export const transferIdParam = transferId;

/** A value refused by a schema: the first problem, named by its path (`records[2].title must be …`). */
export class ProtocolError extends Error {
  readonly status = 400;
}

/**
 * `value` as `schema` types it, or a ProtocolError naming the first wrong field by its path
 * (`records[2].title must be …`), or `whole` when the value as a whole is wrong.
 */
export function parseMessage<Schema extends z.ZodType>(
  schema: Schema,
  value: unknown,
  whole: string,
): z.output<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  throw new ProtocolError(`${fieldName(whole, issue?.path ?? [])} ${issue?.message ?? 'is not valid'}`);
}

function fieldName(whole: string, path: readonly PropertyKey[]): string {
  if (path.length === 0) return whole;
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}
