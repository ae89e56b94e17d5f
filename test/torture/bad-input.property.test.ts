import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJobEvent } from '../../src/core/stream.js';
import { createJobValidator } from '../../src/core/validate.js';
import {
  createJobRegistry,
  encodeSseMessage,
  isJobsError,
  JOB_STATES,
  type Job,
  type JobRegistry,
  JobsError,
  type SseMessage,
} from '../../src/index.js';
import { SseClient } from '../support/sse-client.js';
import { PATIENCE_MS, startServer, type TestServer } from './helpers.js';

// Bad input, generated: whatever arrives, the library answers with a clear refusal or a valid result,
// never a crash, a 5xx or a forged SSE frame.

const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '%', '%zz', '%E0%A4%A', '..', '\u0000', '\r\n', 'a'.repeat(300), '\u{1F4A9}', '%00'),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,120}$/),
  fc.constantFrom('__proto__', 'toString', 'constructor'),
);

describe('HTTP routes under arbitrary query strings and paths', () => {
  let registry: JobRegistry;
  let server: TestServer;

  beforeAll(async () => {
    registry = await createJobRegistry({ onError: () => {} });
    server = await startServer(registry, { heartbeatMs: 60_000 });
    for (let i = 0; i < 5; i++) await registry.enqueue({ category: `cat-${i % 2}`, target: { peer: `peer-${i}` } });
  });

  afterAll(async () => {
    await server.close();
    await registry.close();
  });

  const key = fc.oneof(
    fc.constantFrom('job_id', 'category', 'state', 'limit', 'lastEventId', 'target.peer', 'target.', 'target.a.b'),
    // Prototype members once answered 500 (found by this test).
    fc.constantFrom('target.toString', 'target.__proto__', 'target.constructor', 'target.hasOwnProperty'),
    nasty,
    nasty.map((name) => `target.${name}`),
  );
  const pairs = fc.array(fc.tuple(key, nasty), { maxLength: 8 });
  const rawQuery = fc.stringMatching(/^[\x21-\x7e]{0,80}$/);

  /** Asks, then checks the answer is never a 5xx and every error is the documented JSON. */
  async function ask(url: string): Promise<number> {
    const controller = new AbortController();
    const response = await fetch(url, { signal: controller.signal });
    if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
      expect(response.status).toBe(200);
      controller.abort();
      return response.status;
    }
    const text = await response.text();
    expect(response.status, `${url} → ${text}`).toBeLessThan(500);
    if (response.status >= 400) {
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      expect(typeof body.error.code).toBe('string');
      expect(body.error.message.length).toBeGreaterThan(0);
    }
    return response.status;
  }

  it('list and stream: encoded parameters never get a 5xx; errors are JSON naming the problem', async () => {
    await fc.assert(
      fc.asyncProperty(pairs, fc.boolean(), async (params, stream) => {
        const query = new URLSearchParams(params).toString();
        await ask(`${server.url}${stream ? '/events' : ''}?${query}`);
      }),
      { numRuns: 150 },
    );
  });

  it('raw, possibly malformed query strings and paths never get a 5xx', async () => {
    const path = fc.oneof(
      fc.constant(''),
      fc.constant('/events'),
      rawQuery.map((segment) => `/${segment.replace(/[?#]/g, '')}`),
    );
    await fc.assert(
      fc.asyncProperty(path, rawQuery, async (route, query) => {
        await ask(`${server.url}${route}?${query}`);
      }),
      { numRuns: 150 },
    );
  });

  it('any Last-Event-ID: a stream that replays when it can and resyncs when it cannot, never a crash', async () => {
    const epoch = registry.head().split('-')[0] as string;
    const headerValue = fc.oneof(
      fc.stringMatching(/^[\x20-\x7e]{0,250}$/),
      fc.nat({ max: 40 }).map((n) => `${epoch}-${n}`),
      fc.nat({ max: 40 }).map((n) => `zz${epoch}-${n}`),
      fc.constantFrom('', ' ', '-1', `${epoch}-`, `${epoch}-01`, `${epoch}-1e3`, `${epoch}-9007199254740993`),
    );
    await fc.assert(
      fc.asyncProperty(headerValue, fc.boolean(), async (value, asQuery) => {
        const url = asQuery ? `${server.url}/events?lastEventId=${encodeURIComponent(value)}` : `${server.url}/events`;
        const client = await SseClient.open(url, asQuery ? {} : { 'last-event-id': value });
        expect(client.status).toBe(200);
        await client.ready(PATIENCE_MS);
        client.close();
        // HTTP trims a header's surrounding spaces; the query parameter keeps them.
        const sent = asQuery ? value : value.trim();
        const expected = sent === '' ? 'none' : sent.length > 200 ? 'resync' : (await registry.eventsSince(sent)).kind;
        const resynced = client.events.some((event) => event.event === 'resync');
        expect(resynced, JSON.stringify(sent)).toBe(expected === 'resync');
        if (expected !== 'replay') {
          // A snapshot of what the client may see, newest first.
          expect(client.held.size).toBe(registry.list({ limit: 100 }).length);
        }
      }),
      { numRuns: 150 },
    );
    // Still serving.
    expect((await fetch(server.url)).status).toBe(200);
  });
});

describe('job inputs', () => {
  const validator = createJobValidator();
  let registry: JobRegistry;

  beforeAll(async () => {
    registry = await createJobRegistry({ onError: () => {} });
  });

  afterAll(async () => {
    await registry.close();
  });

  const value = fc.oneof(
    { depthSize: 'small' },
    nasty,
    fc.double(),
    fc.integer(),
    fc.constant(null),
    fc.constant(undefined),
    fc.jsonValue({ maxDepth: 3 }),
    fc.anything({ maxDepth: 2 }),
  );
  const fields = {
    category: fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,100}$/), value),
    target: fc.oneof(fc.dictionary(nasty, nasty, { maxKeys: 20 }), value),
    scope: value,
    key: value,
    state: fc.oneof(fc.constantFrom(...JOB_STATES), value),
    phase: value,
    progress: fc.oneof(fc.double({ min: -1, max: 2 }), value),
    message: fc.oneof(fc.string({ maxLength: 4100 }), value),
    data: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), value),
  };
  const extra = fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 2 });
  const enqueueInput = fc.oneof(
    fc.tuple(fc.record(fields, { requiredKeys: [] }), extra).map(([known, unknown]) => ({ ...unknown, ...known })),
    fc.record(fields, { requiredKeys: ['category'] }),
    value,
  );
  const { category: _category, target: _target, scope: _scope, key: _key, ...patchFields } = fields;
  const patch = fc.oneof(
    fc.record(patchFields, { requiredKeys: [] }),
    fc.tuple(fc.record(patchFields, { requiredKeys: [] }), extra).map(([known, unknown]) => ({ ...unknown, ...known })),
    value,
  );

  /** A refusal must say which field is wrong, when the input is an object with fields at all. */
  function expectNamedRefusal(error: unknown, input: unknown, required: string[]) {
    expect(isJobsError(error), String(error)).toBe(true);
    const jobsError = error as JobsError;
    expect(['invalid_input', 'invalid_transition']).toContain(jobsError.code);
    expect(jobsError.message.length).toBeGreaterThan(0);
    if (typeof input === 'object' && input !== null && !Array.isArray(input) && jobsError.code === 'invalid_input') {
      expect(typeof jobsError.field, jobsError.message).toBe('string');
      // A dotted path names a nested field; a key may itself hold dots.
      const field = jobsError.field as string;
      const known = [...Object.keys(input), ...required];
      expect(known.includes(field) || known.includes(field.split('.')[0] as string), jobsError.message).toBe(true);
    }
  }

  /** An accepted job is a valid, JSON-clean snapshot. */
  function expectValidJob(job: Job) {
    const roundTrip = JSON.parse(JSON.stringify(job)) as unknown;
    // Compared as JSON: that is what the wire and the log carry (-0 and 0 are one number there).
    expect(JSON.stringify(validator.storedJob(roundTrip))).toBe(JSON.stringify(job));
  }

  it('enqueue: either a valid job or a JobsError naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(enqueueInput, async (input) => {
        let job: Job;
        try {
          job = await registry.enqueue(input as never);
        } catch (error) {
          expectNamedRefusal(error, input, ['category']);
          return;
        }
        expectValidJob(job);
      }),
      { numRuns: 400 },
    );
  });

  it('update: either the next valid version or a JobsError naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(patch, async (input) => {
        const job = await registry.enqueue({ category: 'prop', state: 'running' });
        let next: Job;
        try {
          next = await registry.update(job.id, input as never);
        } catch (error) {
          expectNamedRefusal(error, input, []);
          expect(registry.get(job.id)).toEqual(job);
          return;
        }
        expect(next.version).toBe(job.version + 1);
        expectValidJob(next);
      }),
      { numRuns: 400 },
    );
  });
});

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
/** What a string becomes on a UTF-8 wire: lone surrogates turn into U+FFFD. */
function wellFormed<T extends string | undefined>(text: T): T {
  return (text === undefined ? text : fromUtf8.decode(utf8.encode(text))) as T;
}

describe('the SSE serializer', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({
      unit: fc.constantFrom('\r', '\n', '\r\n', ':', ' ', 'data: ', 'event: x', 'id: 1', '\u0000', 'é', 'a'),
    }),
  );
  const message = fc.record(
    {
      id: text,
      event: text,
      data: text,
      comment: text,
      retry: fc.nat(),
    },
    { requiredKeys: ['data'] },
  );

  /** Feeds bytes to eventsource-parser in the given pieces, as a network would. */
  function parse(bytes: Uint8Array, cuts: number[]): EventSourceMessage[] {
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    const decoder = new TextDecoder();
    let start = 0;
    for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
      parser.feed(decoder.decode(bytes.subarray(start, cut), { stream: true }));
      start = cut;
    }
    parser.feed(decoder.decode(bytes.subarray(start)));
    return events;
  }

  it('parsing its output yields exactly the events written, whatever the fields hold', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (messages, cuts) => {
          const chunks: Uint8Array[] = [];
          const expected: EventSourceMessage[] = [];
          for (const m of messages as SseMessage[]) {
            let bytes: Uint8Array;
            try {
              bytes = encodeSseMessage(m);
            } catch (error) {
              // Refused only for a line break or NUL in `id` or `event`, which would forge a field.
              expect(error).toBeInstanceOf(JobsError);
              expect(`${m.id ?? ''}${m.event ?? ''}`).toMatch(/[\r\n\0]/);
              continue;
            }
            chunks.push(bytes);
            expected.push({
              id: m.id,
              event: m.event === '' ? undefined : m.event,
              // The wire is UTF-8: a lone surrogate becomes U+FFFD; every line break arrives as LF.
              data: wellFormed(m.data as string).replace(/\r\n|\r/g, '\n'),
            });
          }
          const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
          let offset = 0;
          for (const chunk of chunks) {
            all.set(chunk, offset);
            offset += chunk.length;
          }
          const normalise = (events: EventSourceMessage[]) =>
            events.map((event) => ({ ...event, id: wellFormed(event.id), event: wellFormed(event.event) }));
          expect(parse(all, cuts)).toEqual(normalise(expected));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a job event carries exactly its job, whatever its message holds', async () => {
    const registry = await createJobRegistry({ onError: () => {} });
    const seen: Array<{ id: string; job: Job }> = [];
    registry.subscribe({}, (event) => seen.push(event));
    try {
      await fc.assert(
        fc.asyncProperty(text, fc.string(), async (message, phase) => {
          const job = await registry.enqueue({
            category: 'inject',
            message: message.slice(0, 4000),
            phase: phase.slice(0, 100),
          });
          const event = seen.at(-1) as { id: string; job: Job };
          expect(event.job).toBe(job);
          const parsed = parse(encodeJobEvent(event), []);
          expect(parsed).toHaveLength(1);
          expect(parsed[0]?.event).toBe('job-update');
          expect(parsed[0]?.id).toBe(event.id);
          expect(JSON.parse(parsed[0]?.data as string)).toEqual(JSON.parse(JSON.stringify(job)));
        }),
        { numRuns: 500 },
      );
    } finally {
      await registry.close();
    }
  });
});
