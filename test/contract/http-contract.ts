import fc from 'fast-check';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  createJobRegistry,
  type Job,
  type JobAction,
  type JobRegistry,
  type JobRegistryOptions,
  memoryStore,
  type Principal,
} from '../../src/index.js';
import type { RunningServer } from '../support/servers.js';
import { SseClient } from '../support/sse-client.js';
import { times } from '../support/times.js';
import { waitFor } from '../support/wait.js';
import { openStalledStream, rawRequest, request } from './client.js';

/** Who the `x-user` header names. `nobody` is logged in but holds no scope (→ 403 everywhere). */
const PRINCIPALS: Record<string, Principal> = {
  admin: { id: 'admin', scopes: ['admin'] },
  ops: { id: 'ops', scopes: ['ops'] },
  both: { id: 'both', scopes: ['admin', 'ops'] },
  nobody: { id: 'nobody', scopes: [] },
};

/** What `authorize` says for a user from now on, set by a test while its streams are open (a logout). */
const changed = new Map<string, Principal | null | 'throw'>();
/** How often `authorize` was asked, by any runner. */
let authorizeCalls = 0;

/** The test's identity rule; every runner calls it from its framework's own `authorize`. */
export function principalFor(user: string | undefined): Principal | null {
  authorizeCalls++;
  if (user === undefined) return null;
  const now = changed.get(user);
  if (now === 'throw') throw new Error('session store unavailable');
  return now === undefined ? (PRINCIPALS[user] ?? null) : now;
}

/** What a runner passes on to its adapter (the adapter's own `authorize` reads `x-user` through `principalFor`). */
export interface ContractOptions {
  heartbeatMs: number;
  retryMs?: number;
  maxStreamsPerPrincipal?: number;
  maxBufferedBytes?: number;
  throttleMs?: number;
  reauthorizeMs?: number;
  onError?: (error: Error) => void;
  /** The runner passes it on as is; it receives the framework's own request as `context`. */
  authorizeAction?: (
    principal: Principal | null,
    action: JobAction,
    job: Job,
    context: unknown,
  ) => boolean | Promise<boolean>;
}

export interface ContractTarget {
  /** Serves the routes over `registry` on a real server listening on 127.0.0.1. */
  start(registry: JobRegistry, options: ContractOptions): Promise<RunningServer>;
  /**
   * True when the framework's router refuses a URL with bad percent-encoding itself, before any
   * route runs (Fastify: `400 FST_ERR_BAD_URL`), so the library's error JSON cannot be sent.
   */
  rejectsBadUrlItself?: boolean;
  /**
   * True when the framework's own URL parsing sends a few raw paths below the prefix (Express:
   * `{prefix}//#…`) to the app's 404 before the router runs: the app answers those, not the routes.
   */
  routesSomePathsElsewhere?: boolean;
  /** True when every request the server gets goes to the routes (fetch handler, Node bridge), not only those below the prefix. */
  servesEveryPath?: boolean;
  /**
   * True when the framework parses a JSON body itself, before any route runs (Fastify), and so answers
   * malformed JSON or a body over the limit in its own error shape.
   */
  parsesBodyItself?: boolean;
}

const ADMIN = { 'x-user': 'admin' };
const OPS = { 'x-user': 'ops' };

interface Setup {
  registry: JobRegistry;
  server: RunningServer;
  url: string;
  /** Opens a stream on `path` (e.g. `/events?category=x`) and registers its cleanup. */
  stream(path?: string, headers?: Record<string, string>): Promise<SseClient>;
}

/**
 * The HTTP contract and SSE wire format (docs/concepts.md), written once and run over every way of serving
 * the routes (fetch handler, Express, Fastify), each on a real server with real HTTP and SSE clients.
 */
export function describeHttpContract(name: string, target: ContractTarget): void {
  async function setup(
    options: Partial<ContractOptions> = {},
    registryOptions: JobRegistryOptions = {},
    /** Registers the job definitions a test runs, before the server starts. */
    define: (registry: JobRegistry) => void = () => {},
  ) {
    const registry = await createJobRegistry({ onError: () => {}, ...registryOptions });
    define(registry);
    const server = await target.start(registry, { heartbeatMs: 60_000, ...options });
    const clients: SseClient[] = [];
    onTestFinished(async () => {
      changed.clear();
      for (const client of clients) client.close();
      await server.close();
      await registry.close();
    });
    const result: Setup = {
      registry,
      server,
      url: server.url,
      async stream(path = '/events', headers: Record<string, string> = ADMIN) {
        const client = await SseClient.open(server.url + path, headers);
        clients.push(client);
        return client;
      },
    };
    return result;
  }

  function expectError(answer: { status: number; headers: Record<string, unknown>; json: unknown }, status: number) {
    const codes: Record<number, string> = {
      400: 'bad_request',
      401: 'unauthorized',
      403: 'forbidden',
      404: 'not_found',
      405: 'method_not_allowed',
      409: 'conflict',
      429: 'too_many_requests',
      500: 'internal_error',
    };
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('private, no-store');
    const { error } = answer.json as { error: { code: string; message: string; field?: string } };
    expect(error.code).toBe(codes[status]);
    expect(typeof error.message).toBe('string');
    expect(error.message.length).toBeGreaterThan(0);
    return error;
  }

  /** A memory store whose writes land a few milliseconds late, like a shared store's round trip. */
  function slowStore() {
    const store = memoryStore();
    return Object.assign(Object.create(store), {
      write: async (...args: Parameters<typeof store.write>) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return store.write(...args);
      },
    }) as typeof store;
  }

  /** An error's message and its causes' messages, joined. */
  const errorChain = (error: unknown): string =>
    error instanceof Error ? `${error.message} ${errorChain(error.cause)}` : String(error ?? '');

  const ids = (jobs: Array<{ id: string }>) => jobs.map((job) => job.id);
  /** Ids in list order: newest first by `queuedAt`, then by id (jobs queued in one millisecond tie). */
  const newestFirst = (...jobs: Array<{ id: string; queuedAt: string }>) =>
    ids([...jobs].sort((a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt) || (a.id < b.id ? 1 : -1)));
  const listed = (answer: { json: unknown }) => ids((answer.json as { jobs: Array<{ id: string }> }).jobs);
  const sequence = (id: string | undefined) => Number(id?.split('-')[1]);

  describe(`HTTP contract over ${name}`, () => {
    describe('auth and errors', () => {
      test('no principal → 401 on every route, with the error JSON', async () => {
        const { url, registry } = await setup();
        const job = await registry.enqueue({ category: 'sync-push' });
        for (const path of ['', `/${job.id}`, '/events']) expectError(await request(url + path), 401);
      });

      test('a principal without any scope → 403 on every route', async () => {
        const { url, registry } = await setup();
        const job = await registry.enqueue({ category: 'sync-push' });
        for (const path of ['', `/${job.id}`, '/events']) {
          expectError(await request(url + path, { headers: { 'x-user': 'nobody' } }), 403);
        }
      });

      test('unknown or malformed job ids and unknown routes → 404', async () => {
        const { url } = await setup();
        expectError(await request(`${url}/V1StGXR8_Z5jdHi6B-myT`, { headers: ADMIN }), 404);
        expectError(await request(`${url}/not*an*id`, { headers: ADMIN }), 404);
        expectError(await request(`${url}/a/b`, { headers: ADMIN }), 404);
      });

      test('bad percent-encoding in an id never gets a 5xx', async () => {
        const { url } = await setup();
        for (const bad of ['%E0%A4%A', '%zz', '%FF']) {
          const answer = await request(`${url}/${bad}`, { headers: ADMIN });
          expect([400, 404]).toContain(answer.status);
          expect(answer.headers['content-type']).toMatch(/^application\/json/);
          if (target.rejectsBadUrlItself) expect(answer.json).toMatchObject({ statusCode: 400 });
          else expectError(answer, answer.status);
        }
      });

      test.runIf(target.servesEveryPath)(
        'a path outside the prefix → 404 in the error JSON, before authorize is asked',
        async () => {
          const { url } = await setup();
          const { origin, pathname: prefix } = new URL(url);
          const calls = authorizeCalls;
          for (const path of ['/favicon.ico', `${prefix}x/events`, '/', '//x]']) {
            expectError(await rawRequest(origin, path), 404);
            expectError(await rawRequest(origin, path, ADMIN), 404);
          }
          expect(authorizeCalls).toBe(calls);
        },
      );

      /** Our error JSON, or Fastify's own `400` for bad percent-encoding where its router refuses it first. */
      function expectErrorOrFrameworkBadUrl(answer: Awaited<ReturnType<typeof rawRequest>>, path: string) {
        expect(answer.status, `${path} → ${answer.body}`).toBeLessThan(500);
        const frameworkBadUrl = (answer.json as { code?: string } | undefined)?.code === 'FST_ERR_BAD_URL';
        const appNotFound = answer.status === 404 && !/json/.test(String(answer.headers['content-type']));
        if (target.rejectsBadUrlItself && frameworkBadUrl) expect(answer.status).toBe(400);
        else if (target.routesSomePathsElsewhere && appNotFound) expect(path).toMatch(/\/\/.*#|\/\/#/);
        else expectError(answer, answer.status);
      }

      test('malformed paths (read as a host by a careless URL parse) → 400 or 404 in the error JSON', async () => {
        const { url, server } = await setup();
        const { origin, pathname: prefix } = new URL(url);
        for (const path of ['//', '//x]', '/\\%zz', '//evil.example/events', '//evil.example', '///events', '//#@>']) {
          const answer = await rawRequest(origin, prefix + path, ADMIN);
          expect([400, 404], `${path} → ${answer.status} ${answer.body}`).toContain(answer.status);
          expectErrorOrFrameworkBadUrl(answer, path);
        }
        expect(server.openStreams()).toBe(0);
        // Still serving.
        expect((await request(url, { headers: ADMIN })).status).toBe(200);
      });

      test('any raw path below the prefix: never a 5xx or a crash; a valid answer or the error JSON', async () => {
        const { url, registry } = await setup({ maxStreamsPerPrincipal: 1000 });
        const job = await registry.enqueue({ category: 'sync-push' });
        const { origin, pathname: prefix } = new URL(url);
        const piece = fc.constantFrom(
          ...['/', '//', '\\', '%', '%zz', '%2F', '%5C', '%00', '%E0%A4%A', '..', '.', '?', '#', '&', '=', ':', '@'],
          ...['[', ']', '"', '<', '>', '^', '`', '{', '|', '}', ';', ',', '*', '~', '+', '$', "'", '(', ')', '!'],
          ...['events', 'x', job.id, 'evil.example', 'limit=0', 'lastEventId=', 'target.', 'job_id='],
        );
        const path = fc.oneof(
          fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join('')),
          fc.stringMatching(/^[\x21-\x7e]{0,60}$/),
        );
        await fc.assert(
          fc.asyncProperty(fc.constantFrom('/', '?', '#', '//', '/events', '/events?'), path, async (lead, rest) => {
            const target = `${prefix}${lead}${rest}`;
            const answer = await rawRequest(origin, target, ADMIN);
            if (answer.status < 400) {
              expect([200, 304], target).toContain(answer.status);
              expect(answer.headers['content-type'], target).toMatch(/^(application\/json|text\/event-stream)/);
            } else {
              expectErrorOrFrameworkBadUrl(answer, target);
            }
          }),
          { numRuns: 300 },
        );
        // Still serving.
        expect((await request(url, { headers: ADMIN })).status).toBe(200);
      });

      test.each([
        ['limit=0', 'limit'],
        ['limit=501', 'limit'],
        ['limit=abc', 'limit'],
        ['limit=1.5', 'limit'],
        ['limit=-1', 'limit'],
        ['limit=', 'limit'],
        ['job_id=not*an*id', 'job_id'],
        [Array.from({ length: 101 }, (_, i) => `job_id=job${i}`).join('&'), 'job_id'],
        ['category=bad%20category', 'category'],
        ['state=sleeping', 'state'],
        ['target.=x', 'target.'],
        ['target.bad%20field=x', 'target.bad field'],
        ['limit=1&limit=2', 'limit'],
        ['before=', 'before'],
        ['before=yesterday', 'before'],
        ['before=zzzzzzzzzzz.abc', 'before'],
        ['before=k3x9q.not*an*id', 'before'],
        ['before=a.b&before=a.b', 'before'],
        [`text=${'x'.repeat(201)}`, 'text'],
      ])('bad list query %# → 400 naming the parameter', async (query, field) => {
        const { url } = await setup();
        const error = expectError(await request(`${url}?${query}`, { headers: ADMIN }), 400);
        expect(error.message).toContain(`\`${field.split(' ')[0]}`);
      });

      test('bad stream query → 400 naming the parameter; `state` is refused on streams', async () => {
        const { url, server } = await setup();
        const state = expectError(await request(`${url}/events?state=running`, { headers: ADMIN }), 400);
        expect(state.message).toContain('`state`');
        const target = expectError(await request(`${url}/events?target.=x`, { headers: ADMIN }), 400);
        expect(target.message).toContain('`target.');
        const jobId = expectError(await request(`${url}/events?job_id=a*b`, { headers: ADMIN }), 400);
        expect(jobId.message).toContain('`job_id`');
        expect(server.openStreams()).toBe(0);
      });

      test('unknown query parameters are ignored', async () => {
        const { url, registry, stream } = await setup();
        await registry.enqueue({ category: 'sync-push' });
        const answer = await request(`${url}?utm_source=mail&limit=1&_=123`, { headers: ADMIN });
        expect(answer.status).toBe(200);
        expect(listed(answer)).toHaveLength(1);
        const client = await stream('/events?utm_source=mail&_=123');
        expect(client.status).toBe(200);
        await client.ready();
        expect(client.jobs()).toHaveLength(1);
      });

      test('too many open streams for one principal → 429; another principal is not affected', async () => {
        const { server, stream } = await setup({ maxStreamsPerPrincipal: 2 });
        const first = await stream();
        const second = await stream();
        await Promise.all([first.ready(), second.ready()]);
        const third = await stream();
        expect(third.status).toBe(429);
        await third.closedByServer();
        expect(JSON.parse(third.raw).error.code).toBe('too_many_requests');
        expect(third.headers['content-type']).toBe('application/json; charset=utf-8');
        const other = await stream('/events', OPS);
        expect(other.status).toBe(200);
        // A stream counts until its connection has really closed; then the slot is free again.
        first.close();
        await waitFor(() => server.openStreams() === 2, 'the closed stream to be released');
        const again = await stream();
        expect(again.status).toBe(200);
        await again.ready();
      });
    });

    describe('list and get', () => {
      test('newest first by queuedAt then id, limit 1..500, default 50', async () => {
        const { url, registry } = await setup();
        const created = await times(60, async (i) => await registry.enqueue({ category: `c${i}` }));
        const newest = newestFirst(...created);
        const all = await request(url, { headers: ADMIN });
        expect(all.status).toBe(200);
        expect(listed(all)).toEqual(newest.slice(0, 50));
        expect(listed(await request(`${url}?limit=1`, { headers: ADMIN }))).toEqual(newest.slice(0, 1));
        expect(listed(await request(`${url}?limit=500`, { headers: ADMIN }))).toEqual(newest);
        expect(listed(await request(`${url}/?limit=7`, { headers: ADMIN }))).toEqual(newest.slice(0, 7));
      });

      test('filters: values of one filter OR, different filters AND', async () => {
        const { url, registry } = await setup();
        const a = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
        const b = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-b' } });
        const c = await registry.enqueue({ category: 'sync-pull', target: { peer: 'peer-a' } });
        const d = await registry.enqueue({ category: 'dedalus-verify' });
        await registry.update(b.id, { state: 'running' });
        await registry.update(d.id, { state: 'success' });
        const query = async (q: string) => listed(await request(`${url}?${q}`, { headers: ADMIN }));
        expect(await query(`job_id=${a.id}&job_id=${d.id}`)).toEqual(newestFirst(d, a));
        expect(await query('category=sync-push&category=sync-pull')).toEqual(newestFirst(c, b, a));
        expect(await query('target.peer=peer-a')).toEqual(newestFirst(c, a));
        expect(await query('target.peer=peer-a&target.peer=peer-b')).toEqual(newestFirst(c, b, a));
        expect(await query('category=sync-push&target.peer=peer-a')).toEqual([a.id]);
        expect(await query('state=running&state=success')).toEqual(newestFirst(d, b));
        expect(await query('state=queued&category=sync-pull&category=dedalus-verify')).toEqual([c.id]);
        expect(await query('target.missing=x')).toEqual([]);
        expect(await query(`job_id=${a.id}&category=sync-pull`)).toEqual([]);
      });

      test('GET /{id} answers the job; HEAD answers headers only', async () => {
        const { url, registry } = await setup();
        const job = await registry.enqueue({
          category: 'sync-push',
          target: { peer: 'peer-a' },
          message: '<b>text</b>',
        });
        const answer = await request(`${url}/${job.id}`, { headers: ADMIN });
        expect(answer.status).toBe(200);
        expect(answer.json).toEqual(JSON.parse(JSON.stringify(registry.get(job.id))));
        const head = await request(url, { method: 'HEAD', headers: ADMIN });
        expect(head.status).toBe(200);
        expect(head.body).toBe('');
        expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
      });

      test('JSON responses carry Cache-Control: private, no-store', async () => {
        const { url, registry } = await setup();
        const job = await registry.enqueue({ category: 'sync-push' });
        for (const path of ['', `/${job.id}`]) {
          const answer = await request(url + path, { headers: ADMIN });
          expect(answer.status).toBe(200);
          expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
          expect(answer.headers['cache-control']).toBe('private, no-store');
        }
      });

      test('ETag, and 304 on If-None-Match until the list changes', async () => {
        const { url, registry } = await setup();
        const job = await registry.enqueue({ category: 'sync-push' });
        const first = await request(url, { headers: ADMIN });
        const etag = first.headers.etag as string;
        expect(etag).toMatch(/^(W\/)?"[^"]+"$/);
        const same = await request(url, { headers: { ...ADMIN, 'if-none-match': etag } });
        expect(same.status).toBe(304);
        expect(same.body).toBe('');
        expect(same.headers.etag).toBe(etag);
        expect(same.headers['cache-control']).toBe('private, no-store');
        const listOf = await request(url, { headers: { ...ADMIN, 'if-none-match': `"other", ${etag}` } });
        expect(listOf.status).toBe(304);
        await registry.update(job.id, { progress: 0.5 });
        const changed = await request(url, { headers: { ...ADMIN, 'if-none-match': etag } });
        expect(changed.status).toBe(200);
        expect(changed.headers.etag).not.toBe(etag);
        // The same ETag means the same body, for each filter.
        const filtered = await request(`${url}?category=other`, { headers: { ...ADMIN, 'if-none-match': etag } });
        expect(filtered.status).toBe(200);
      });

      test('scopes: lists leave out jobs of other scopes; GET of one → 404, the same answer as an unknown id', async () => {
        const { url, registry } = await setup();
        const adminJob = await registry.enqueue({ category: 'sync-push' });
        const opsJob = await registry.enqueue({ category: 'sync-push', scope: 'ops' });
        expect(listed(await request(url, { headers: OPS }))).toEqual([opsJob.id]);
        expect(listed(await request(url, { headers: ADMIN }))).toEqual([adminJob.id]);
        const hidden = await request(`${url}/${adminJob.id}`, { headers: OPS });
        expectError(hidden, 404);
        expect(hidden.body).toBe((await request(`${url}/V1StGXR8_Z5jdHi6B-myT`, { headers: OPS })).body);
        expect((await request(`${url}/${opsJob.id}`, { headers: OPS })).status).toBe(200);
      });
    });

    describe('actions', () => {
      /** The same-origin proof a page of the app sends with every action. */
      const PROOF = { 'x-realtime-jobs': '1' };
      /** The contract's rule: `admin` scope holders may do anything, anyone else only cancel. */
      const adminsOrCancel = (principal: Principal | null, action: JobAction) =>
        principal?.scopes.includes('admin') === true || action === 'cancel';

      /** Definitions the action tests run: work that waits to be cancelled, fails once, or asks for approval. */
      function defineJobs(registry: JobRegistry) {
        registry.define(
          'wait',
          (ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
        );
        let runs = 0;
        registry.define('flaky', (ctx) => {
          if (++runs === 1) throw new Error('peer unreachable');
          return { n: ctx.input.n ?? null };
        });
        registry.define('deploy', (ctx) => ctx.awaitApproval(`Deploy ${ctx.input.bundle}?`), {
          onApprove: async (ctx) => {
            await ctx.progress(0.5, { phase: 'deploying' });
            return { deployed: String(ctx.input.bundle), by: ctx.approval?.by ?? null };
          },
        });
        registry.define('deploy-ops', (ctx) => ctx.awaitApproval('Deploy?'), { scope: 'ops' });
      }

      /** A setup with the definitions and `authorizeAction` (the contract's rule unless given). */
      function actionSetup(options: Partial<ContractOptions> = {}) {
        return setup({ authorizeAction: adminsOrCancel, ...options }, {}, defineJobs);
      }

      function act(url: string, id: string, action: string, headers: Record<string, string> = { ...ADMIN, ...PROOF }) {
        return request(`${url}/${id}/${action}`, { method: 'POST', headers });
      }

      async function until(registry: JobRegistry, id: string, state: string) {
        await waitFor(() => registry.get(id)?.state === state, `job ${id} to be ${state}`);
        return registry.get(id) as Job;
      }

      const answered = (answer: { json: unknown }) => (answer.json as { job: Job }).job;

      test('cancel: a running job ends cancelled, by the principal; 200 {"job": …}', async () => {
        const { url, registry } = await actionSetup();
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        const answer = await act(url, job.id, 'cancel');
        expect(answer.status).toBe(200);
        expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(answer.headers['cache-control']).toBe('private, no-store');
        expect(answered(answer)).toMatchObject({ id: job.id, state: 'cancelled', message: 'Cancelled by admin' });
        expect(answered(answer)).toEqual(JSON.parse(JSON.stringify(registry.get(job.id))));
        // A second click answers the finished job as it is.
        const again = await act(url, job.id, 'cancel');
        expect(again.status).toBe(200);
        expect(answered(again).version).toBe(answered(answer).version);
      });

      test('retry: a new job with the same input, retryOf the old one, that runs', async () => {
        const { url, registry } = await actionSetup();
        const failed = await registry.run('flaky', { n: 7 });
        await until(registry, failed.id, 'error');
        const answer = await act(url, failed.id, 'retry');
        expect(answer.status).toBe(200);
        const retried = answered(answer);
        expect(retried.id).not.toBe(failed.id);
        expect(retried).toMatchObject({
          retryOf: failed.id,
          category: 'flaky',
          data: { n: 7 },
          message: 'Retried by admin',
        });
        expect((await until(registry, retried.id, 'success')).result).toEqual({ n: 7 });
        expect(registry.get(failed.id)?.state).toBe('error');
      });

      test("approve: a pending job is queued, and the definition's onApprove runs to the end", async () => {
        const { url, registry } = await actionSetup();
        const job = await registry.run('deploy', { bundle: 'b-42' });
        await until(registry, job.id, 'pending');
        const answer = await act(url, job.id, 'approve');
        expect(answer.status).toBe(200);
        expect(answered(answer)).toMatchObject({ id: job.id, state: 'queued', message: 'Approved by admin' });
        const done = await until(registry, job.id, 'success');
        expect(done.result).toEqual({ deployed: 'b-42', by: 'admin' });
      });

      test('reject: a pending job ends cancelled, with the JSON body’s message or "Rejected by …"', async () => {
        const { url, registry } = await actionSetup();
        const first = await registry.run('deploy', { bundle: 'b-1' });
        const second = await registry.run('deploy', { bundle: 'b-2' });
        await until(registry, first.id, 'pending');
        await until(registry, second.id, 'pending');
        const withMessage = await request(`${url}/${first.id}/reject`, {
          method: 'POST',
          headers: { ...ADMIN, ...PROOF, 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ message: 'Not during the freeze' }),
        });
        expect(withMessage.status).toBe(200);
        expect(answered(withMessage)).toMatchObject({ state: 'cancelled', message: 'Not during the freeze' });
        const without = await act(url, second.id, 'reject');
        expect(answered(without)).toMatchObject({ state: 'cancelled', message: 'Rejected by admin' });
        expect(registry.get(second.id)?.state).toBe('cancelled');
      });

      test.each([
        ['not JSON', 'application/json', '{"message":', 'body', true],
        ['not an object', 'application/json', '["no"]', 'body', false],
        ['null', 'application/json', 'null', 'body', false],
        ['a JSON string', 'application/json', '"no"', 'body', false],
        ['another field', 'application/json', '{"message":"x","by":"root"}', 'by', false],
        ['an empty message', 'application/json', '{"message":""}', 'message', false],
        ['a message that is not text', 'application/json', '{"message":42}', 'message', false],
        [
          'a message over the limit',
          'application/json',
          JSON.stringify({ message: 'x'.repeat(4001) }),
          'message',
          false,
        ],
        ['a body that is not JSON', 'text/plain', '{"message":"x"}', 'body', false],
        ['a body over 64 KiB', 'application/json', JSON.stringify({ message: 'x'.repeat(70_000) }), 'body', true],
      ] as const)(
        'reject with %s → 400 naming the field; the job stays pending',
        async (_what, type, body, field, framework) => {
          const { url, registry } = await actionSetup();
          const job = await registry.run('deploy', { bundle: 'b-1' });
          await until(registry, job.id, 'pending');
          const answer = await request(`${url}/${job.id}/reject`, {
            method: 'POST',
            headers: { ...ADMIN, ...PROOF, 'content-type': type },
            body,
          });
          if (framework && target.parsesBodyItself) {
            // Fastify parses (and limits) the body before any route runs, and answers in its own shape.
            expect([400, 413]).toContain(answer.status);
          } else {
            expect(expectError(answer, 400).field).toBe(field);
          }
          expect(registry.get(job.id)?.state).toBe('pending');
        },
      );

      test('without authorizeAction every action answers 403: actions are off by default', async () => {
        const { url, registry } = await setup({}, {}, defineJobs);
        const job = await registry.run('deploy', { bundle: 'b-1' });
        await until(registry, job.id, 'pending');
        for (const action of ['cancel', 'retry', 'approve', 'reject']) {
          const error = expectError(await act(url, job.id, action), 403);
          expect(error.message).toContain('authorizeAction');
        }
        expect(registry.get(job.id)?.version).toBe((await until(registry, job.id, 'pending')).version);
        expect(registry.get(job.id)?.state).toBe('pending');
      });

      test('authorizeAction false → 403; it gets the principal, the action, the job and the request', async () => {
        const calls: Array<[string | undefined, JobAction, string, boolean]> = [];
        const { url, registry } = await actionSetup({
          authorizeAction: (principal, action, job, context) => {
            calls.push([principal?.id, action, job.id, typeof context === 'object' && context !== null]);
            return adminsOrCancel(principal, action);
          },
        });
        const job = await registry.run('deploy-ops', {});
        await until(registry, job.id, 'pending');
        const error = expectError(await act(url, job.id, 'approve', { ...OPS, ...PROOF }), 403);
        expect(error.message).toContain('approve');
        expect(calls).toEqual([['ops', 'approve', job.id, true]]);
        expect(registry.get(job.id)?.state).toBe('pending');
        // The same principal may cancel (the rule allows it).
        expect(answered(await act(url, job.id, 'cancel', { ...OPS, ...PROOF }))).toMatchObject({
          state: 'cancelled',
          message: 'Cancelled by ops',
        });
      });

      test.each([
        ['no proof at all', {}],
        ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
        ['Sec-Fetch-Site: same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site' }],
        ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
        ['X-Realtime-Jobs with another value', { 'x-realtime-jobs': 'true' }],
      ])('an action with %s → 403 saying why, before authorizeAction is asked', async (_what, headers) => {
        let asked = 0;
        const { url, registry } = await actionSetup({ authorizeAction: () => ++asked > 0 });
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        const error = expectError(await act(url, job.id, 'cancel', { ...ADMIN, ...headers }), 403);
        expect(error.message).toContain('X-Realtime-Jobs: 1');
        expect(asked).toBe(0);
        expect(registry.get(job.id)?.state).toBe('running');
      });

      test('Sec-Fetch-Site: same-origin is proof enough without the header', async () => {
        const { url, registry } = await actionSetup();
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        const answer = await act(url, job.id, 'cancel', { ...ADMIN, 'sec-fetch-site': 'same-origin' });
        expect(answered(answer).state).toBe('cancelled');
      });

      test("the job's state does not allow it → 409 conflict naming the field", async () => {
        const { url, registry } = await actionSetup();
        const running = await registry.run('wait', {});
        await until(registry, running.id, 'running');
        for (const action of ['approve', 'reject', 'retry']) {
          const answer = await act(url, running.id, action);
          expect(answer.status).toBe(409);
          expect((answer.json as { error: { code: string; field: string } }).error).toMatchObject({
            code: 'conflict',
            field: 'state',
          });
        }
        expect(registry.get(running.id)?.state).toBe('running');
        // A finished job whose category has no definition here cannot be retried either.
        const adHoc = await registry.enqueue({ category: 'ad-hoc', state: 'running' });
        await registry.update(adHoc.id, { state: 'error' });
        const answer = await act(url, adHoc.id, 'retry');
        expect(answer.status).toBe(409);
        expect((answer.json as { error: { field: string } }).error.field).toBe('category');
      });

      test('an unknown id, a malformed one, or a job outside the principal’s scopes → the same 404', async () => {
        const { url, registry } = await actionSetup();
        const hidden = await registry.run('deploy', { bundle: 'b-1' });
        await until(registry, hidden.id, 'pending');
        const unknown = await act(url, 'V1StGXR8_Z5jdHi6B-myT', 'cancel', { ...OPS, ...PROOF });
        expectError(unknown, 404);
        expectError(await act(url, 'not*an*id', 'cancel', { ...OPS, ...PROOF }), 404);
        // ops may cancel, but may not see an admin job: it does not exist for them.
        const outside = await act(url, hidden.id, 'cancel', { ...OPS, ...PROOF });
        expectError(outside, 404);
        expect(outside.body).toBe(unknown.body);
        // Even without the same-origin proof: the answer never tells the job exists.
        expect((await act(url, hidden.id, 'cancel', OPS)).body).toBe(unknown.body);
        expect(registry.get(hidden.id)?.state).toBe('pending');
      });

      test('nobody logged in → 401; a principal without scopes → 403; both before the job is looked up', async () => {
        const { url, registry } = await actionSetup({ authorizeAction: () => true });
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        expectError(await act(url, job.id, 'cancel', PROOF), 401);
        expectError(await act(url, 'V1StGXR8_Z5jdHi6B-myT', 'cancel', PROOF), 401);
        expectError(await act(url, job.id, 'cancel', { 'x-user': 'nobody', ...PROOF }), 403);
        expect(registry.get(job.id)?.state).toBe('running');
      });

      test('an authorizeAction that throws or answers no boolean → 500 internal_error, reported to onError', async () => {
        const errors: Error[] = [];
        const { url, registry } = await actionSetup({
          onError: (error) => errors.push(error),
          authorizeAction: (_principal, action) => {
            if (action === 'cancel') throw new Error('policy service down');
            return 'yes' as unknown as boolean;
          },
        });
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        for (const action of ['cancel', 'retry']) {
          const answer = await act(url, job.id, action);
          expect(answer.status).toBe(500);
          expect((answer.json as { error: { code: string } }).error.code).toBe('internal_error');
        }
        expect(errors.map((error) => error.message)).toEqual([
          expect.stringContaining('policy service down'),
          expect.stringContaining('authorizeAction() must return true or false'),
        ]);
        expect(registry.get(job.id)?.state).toBe('running');
      });

      test('GET or HEAD on an action path → 405 with Allow: POST', async () => {
        const { url, registry } = await actionSetup();
        const job = await registry.run('wait', {});
        for (const method of ['GET', 'HEAD']) {
          for (const action of ['cancel', 'retry', 'approve', 'reject']) {
            const answer = await request(`${url}/${job.id}/${action}`, { method, headers: { ...ADMIN, ...PROOF } });
            expect(answer.status, `${method} ${action}`).toBe(405);
            expect(answer.headers.allow).toBe('POST');
          }
        }
        expect(registry.get(job.id)?.state).not.toBe('cancelled');
      });

      test('a POST below the prefix that is no action is never taken for one', async () => {
        const { url, registry } = await actionSetup();
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        for (const path of [`/${job.id}/stop`, `/${job.id}/cancel/x`, `/${job.id}`, '/events/cancel']) {
          const answer = await request(url + path, { method: 'POST', headers: { ...ADMIN, ...PROOF } });
          // The fetch handler and the Node bridge answer 405 or 404; Express and Fastify leave it to the app.
          expect([404, 405], path).toContain(answer.status);
        }
        expect(registry.get(job.id)?.state).toBe('running');
      });

      test('Sec-Fetch-Site: cross-site refuses the action even with X-Realtime-Jobs: 1: the browser’s word wins', async () => {
        let asked = 0;
        const { url, registry } = await actionSetup({ authorizeAction: () => ++asked > 0 });
        const job = await registry.run('wait', {});
        await until(registry, job.id, 'running');
        const error = expectError(
          await act(url, job.id, 'cancel', { ...ADMIN, ...PROOF, 'sec-fetch-site': 'cross-site' }),
          403,
        );
        expect(error.message).toContain('cross-site');
        expect(asked).toBe(0);
        expect(registry.get(job.id)?.state).toBe('running');
      });

      test('approve and reject at once: exactly one wins, the other gets 409; the job ends as the winner said', async () => {
        let approvedRuns = 0;
        let rejectedRuns = 0;
        // Writes take a few milliseconds, as on Redis: both requests pass their first look at the job
        // before either write lands, so only the write itself can decide.
        const { url, registry } = await setup(
          { authorizeAction: adminsOrCancel },
          { store: slowStore() },
          (registry) => {
            registry.define('hold', (ctx) => ctx.awaitApproval('Go?'), {
              onApprove: () => {
                approvedRuns++;
                return {};
              },
              onReject: () => {
                rejectedRuns++;
              },
            });
          },
        );
        for (const order of [
          ['approve', 'reject'],
          ['reject', 'approve'],
          ['approve', 'approve'],
          ['reject', 'reject'],
        ]) {
          approvedRuns = 0;
          rejectedRuns = 0;
          const job = await registry.run('hold', {});
          await until(registry, job.id, 'pending');
          const answers = await Promise.all(order.map((action) => act(url, job.id, action as string)));
          const statuses = answers.map((answer) => answer.status).sort();
          expect(statuses, order.join(' + ')).toEqual([200, 409]);
          const lost = answers.find((answer) => answer.status === 409) as (typeof answers)[number];
          expect(expectError(lost, 409).field).toBe('state');
          const won = order[answers.findIndex((answer) => answer.status === 200)];
          if (won === 'approve') {
            await until(registry, job.id, 'success');
            expect([approvedRuns, rejectedRuns], order.join(' + ')).toEqual([1, 0]);
          } else {
            expect(registry.get(job.id)?.state).toBe('cancelled');
            expect([approvedRuns, rejectedRuns], order.join(' + ')).toEqual([0, 1]);
          }
        }
      });

      test('retry twice at once (a double click): one new job, and both answers name it', async () => {
        let runs = 0;
        const { url, registry } = await setup({ authorizeAction: adminsOrCancel }, {}, (registry) => {
          // Fails once; each retry then runs until it is cancelled.
          registry.define('stubborn', (ctx) => {
            if (++runs === 1) throw new Error('peer unreachable');
            return new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          });
        });
        const failed = await registry.run('stubborn', { n: 3 });
        await until(registry, failed.id, 'error');
        const answers = await Promise.all([act(url, failed.id, 'retry'), act(url, failed.id, 'retry')]);
        expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
        const [first, second] = answers.map(answered) as [Job, Job];
        expect(second.id).toBe(first.id);
        expect(first.retryOf).toBe(failed.id);
        await until(registry, first.id, 'running');
        // A click after the first answer, while that retry still runs, answers it too.
        expect(answered(await act(url, failed.id, 'retry')).id).toBe(first.id);
        expect(registry.list({ category: ['stubborn'] })).toHaveLength(2);
        expect(runs).toBe(2);
        // Once that retry has ended, the old job may be retried again: a new job.
        await registry.cancel(first.id);
        const again = answered(await act(url, failed.id, 'retry'));
        expect(again.id).not.toBe(first.id);
        expect(again.retryOf).toBe(failed.id);
        await registry.cancel(again.id);
      });

      test('an authorizeAction that rejects asynchronously → 500 in the error JSON, reported; nothing changes', async () => {
        const errors: Error[] = [];
        const { url, registry } = await actionSetup({
          onError: (error) => errors.push(error),
          authorizeAction: async () => {
            await new Promise((resolve) => setImmediate(resolve));
            throw new Error('policy service timed out');
          },
        });
        const job = await registry.run('deploy', { bundle: 'b-1' });
        await until(registry, job.id, 'pending');
        for (const action of ['cancel', 'retry', 'approve', 'reject']) {
          expectError(await act(url, job.id, action), 500);
        }
        expect(errors).toHaveLength(4);
        expect(errors.every((error) => /policy service timed out/.test(errorChain(error)))).toBe(true);
        expect(registry.get(job.id)?.state).toBe('pending');
      });

      test('a store write that fails during an action → 500 in the error JSON; the job is not left half-done', async () => {
        const errors: Error[] = [];
        let failWrites = false;
        const store = memoryStore();
        const failing: typeof store = Object.assign(Object.create(store), {
          write: (...args: Parameters<typeof store.write>) =>
            failWrites ? Promise.reject(new Error('disk on fire')) : store.write(...args),
          create: (...args: Parameters<typeof store.create>) =>
            failWrites ? Promise.reject(new Error('disk on fire')) : store.create(...args),
        });
        const { url, registry } = await setup(
          { authorizeAction: adminsOrCancel, onError: (error) => errors.push(error) },
          { store: failing },
          defineJobs,
        );
        const pending = await registry.run('deploy', { bundle: 'b-1' });
        await until(registry, pending.id, 'pending');
        const failed = await registry.run('flaky', { n: 1 });
        await until(registry, failed.id, 'error');
        const running = await registry.run('wait', {});
        await until(registry, running.id, 'running');
        failWrites = true;
        for (const [id, action] of [
          [pending.id, 'approve'],
          [pending.id, 'reject'],
          [failed.id, 'retry'],
          [running.id, 'cancel'],
        ] as const) {
          expectError(await act(url, id, action), 500);
        }
        failWrites = false;
        expect(registry.get(pending.id)?.state).toBe('pending');
        expect(registry.get(running.id)?.state).toBe('running');
        expect(registry.list({ category: ['flaky'] })).toHaveLength(1);
        // Nothing is left stuck: the same actions succeed once the store works again.
        expect((await act(url, pending.id, 'approve')).status).toBe(200);
        await until(registry, pending.id, 'success');
        expect((await act(url, running.id, 'cancel')).status).toBe(200);
        expect((await act(url, failed.id, 'retry')).status).toBe(200);
        expect(errors.length).toBeGreaterThanOrEqual(4);
      });

      test('a dot segment that climbs out of the prefix never reaches an action', async () => {
        const { url, registry } = await actionSetup();
        const job = await registry.run('deploy', { bundle: 'b-1' });
        await until(registry, job.id, 'pending');
        const { origin, pathname: prefix } = new URL(url);
        // `{prefix}/../{id}/approve` is `/api/admin/{id}/approve` to any URL parser: outside the prefix.
        for (const target of [`${prefix}/../${job.id}/approve`, `${prefix}/%2e%2e/${job.id}/approve`]) {
          const answer = await rawRequest(origin, target, { ...ADMIN, ...PROOF }, 'POST');
          expect(answer.status, target).toBe(404);
        }
        expect(registry.get(job.id)?.state).toBe('pending');
      });

      test('the stream shows what an action did', async () => {
        const { url, registry, stream } = await actionSetup({ throttleMs: 0 });
        const job = await registry.run('deploy', { bundle: 'b-9' });
        await until(registry, job.id, 'pending');
        const client = await stream(`/events?job_id=${job.id}`);
        await client.ready();
        expect((await act(url, job.id, 'approve')).status).toBe(200);
        await client.until(() => client.jobs().at(-1)?.state === 'success', 'the approved job to succeed');
        expect(client.jobs().map((j) => j.state)).toEqual(
          expect.arrayContaining(['pending', 'queued', 'running', 'success']),
        );
      });
    });

    describe('list pages, text and permissions', () => {
      test('paging through 120 jobs with `before`: newest first, none twice, none missed, while new jobs arrive', async () => {
        const { url, registry } = await setup();
        const created = await times(120, async (i) => await registry.enqueue({ category: `c${i % 7}` }));
        const seen: string[] = [];
        const pages: number[] = [];
        let next: string | null = null;
        do {
          const query: string = next === null ? '?limit=25' : `?limit=25&before=${encodeURIComponent(next)}`;
          const answer = await request(url + query, { headers: ADMIN });
          expect(answer.status).toBe(200);
          const page = answer.json as { jobs: Job[]; next: string | null };
          seen.push(...ids(page.jobs));
          pages.push(page.jobs.length);
          next = page.next;
          // Jobs that arrive while paging are newer than every page so far: they never shift one.
          await registry.enqueue({ category: 'arrived-meanwhile' });
        } while (next !== null);
        expect(pages).toEqual([25, 25, 25, 25, 20]);
        expect(seen).toEqual(newestFirst(...created));
        expect(new Set(seen).size).toBe(120);
      });

      test('the last page says next: null; a page that ends exactly at the last job too', async () => {
        const { url, registry } = await setup();
        const created = await times(4, async (i) => await registry.enqueue({ category: `c${i}` }));
        const first = (await request(`${url}?limit=2`, { headers: ADMIN })).json as { jobs: Job[]; next: string };
        expect(typeof first.next).toBe('string');
        const second = (await request(`${url}?limit=2&before=${encodeURIComponent(first.next)}`, { headers: ADMIN }))
          .json as { jobs: Job[]; next: string | null };
        expect([...ids(first.jobs), ...ids(second.jobs)]).toEqual(newestFirst(...created));
        expect(second.next).toBeNull();
        expect(((await request(`${url}?limit=4`, { headers: ADMIN })).json as { next: null }).next).toBeNull();
        // Filters hold across pages.
        const filtered = (
          await request(`${url}?limit=1&category=c1&before=${encodeURIComponent(first.next)}`, {
            headers: ADMIN,
          })
        ).json as { jobs: Job[]; next: string | null };
        expect(filtered.jobs.every((job) => job.category === 'c1')).toBe(true);
      });

      test('text: a case-insensitive piece of the message, category, phase or a target value', async () => {
        const { url, registry } = await setup();
        const byMessage = await registry.enqueue({ category: 'sync-push', message: 'Pushing to Peer-A' });
        const byCategory = await registry.enqueue({ category: 'Dedalus-verify' });
        const byPhase = await registry.enqueue({ category: 'export', phase: 'Transferring' });
        const byTarget = await registry.enqueue({ category: 'export', target: { host: 'north-1.example' } });
        const query = async (text: string) =>
          listed(await request(`${url}?text=${encodeURIComponent(text)}`, { headers: ADMIN }));
        expect(await query('peer-a')).toEqual([byMessage.id]);
        expect(await query('DEDALUS')).toEqual([byCategory.id]);
        expect(await query('transfer')).toEqual([byPhase.id]);
        expect(await query('NORTH-1')).toEqual([byTarget.id]);
        expect(await query('export')).toEqual(newestFirst(byPhase, byTarget));
        expect(await query('no such text')).toEqual([]);
        expect(await query('')).toHaveLength(4);
        // With the other filters, AND.
        expect(listed(await request(`${url}?text=export&target.host=north-1.example`, { headers: ADMIN }))).toEqual([
          byTarget.id,
        ]);
      });

      test('permissions: what authorizeAction allows on each listed job, whatever its state; ETag and 304 still work', async () => {
        const { url, registry } = await setup({
          authorizeAction: (principal, action) => principal?.scopes.includes('admin') === true || action === 'cancel',
        });
        const queued = await registry.enqueue({ category: 'sync-push' });
        const finished = await registry.enqueue({ category: 'sync-push', state: 'running' });
        await registry.update(finished.id, { state: 'success' });
        const opsJob = await registry.enqueue({ category: 'sync-push', scope: 'ops' });
        const all = ['cancel', 'retry', 'approve', 'reject'];
        const admin = await request(url, { headers: { 'x-user': 'both' } });
        expect((admin.json as { permissions: unknown }).permissions).toEqual({
          [queued.id]: all,
          [finished.id]: all,
          [opsJob.id]: all,
        });
        const ops = await request(url, { headers: OPS });
        expect(ops.json).toEqual({
          jobs: [JSON.parse(JSON.stringify(registry.get(opsJob.id)))],
          next: null,
          permissions: { [opsJob.id]: ['cancel'] },
        });
        const same = await request(url, { headers: { ...OPS, 'if-none-match': ops.headers.etag as string } });
        expect(same.status).toBe(304);
      });

      test('without authorizeAction a list carries no permissions', async () => {
        const { url, registry } = await setup();
        await registry.enqueue({ category: 'sync-push' });
        const answer = await request(url, { headers: ADMIN });
        expect(Object.keys(answer.json as object)).toEqual(['jobs', 'next']);
      });

      test('an authorizeAction that throws while a list is built → 500, reported', async () => {
        const errors: Error[] = [];
        const { url, registry } = await setup({
          onError: (error) => errors.push(error),
          authorizeAction: () => {
            throw new Error('policy service down');
          },
        });
        await registry.enqueue({ category: 'sync-push' });
        expect((await request(url, { headers: ADMIN })).status).toBe(500);
        expect(errors[0]?.message).toContain('policy service down');
      });
    });

    describe('detail and logs', () => {
      /** Runs a job that logs `lines`, then waits for `release` before it logs "after" and ends. */
      async function loggingJob(registry: JobRegistry, scope = 'admin') {
        let release = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        const job = await registry.run({ category: 'logger', scope }, async (ctx) => {
          await ctx.log('connecting');
          await ctx.log('slow peer', { level: 'warn' });
          await released;
          await ctx.log('after');
          return { ok: true };
        });
        await waitFor(() => registry.logs(job.id).length === 2, 'the first two log lines');
        return { job, release };
      }

      test('GET /{id}/detail → the job, its kept log lines and permissions', async () => {
        const { url, registry } = await setup({
          authorizeAction: (principal, action) => principal?.scopes.includes('admin') === true || action === 'cancel',
        });
        const { job, release } = await loggingJob(registry);
        const answer = await request(`${url}/${job.id}/detail`, { headers: ADMIN });
        expect(answer.status).toBe(200);
        expect(answer.headers['cache-control']).toBe('private, no-store');
        expect(answer.json).toEqual({
          job: JSON.parse(JSON.stringify(registry.get(job.id))),
          log: JSON.parse(JSON.stringify(registry.logs(job.id))),
          permissions: ['cancel', 'retry', 'approve', 'reject'],
        });
        expect((answer.json as { log: Array<{ text: string; level: string }> }).log).toEqual([
          expect.objectContaining({ seq: 1, level: 'info', text: 'connecting' }),
          expect.objectContaining({ seq: 2, level: 'warn', text: 'slow peer' }),
        ]);
        release();
        const head = await request(`${url}/${job.id}/detail`, { method: 'HEAD', headers: ADMIN });
        expect(head.status).toBe(200);
        expect(head.body).toBe('');
      });

      test('detail: permissions [] without authorizeAction; 404 for an unknown job or one outside the scopes', async () => {
        const { url, registry } = await setup();
        const { job, release } = await loggingJob(registry);
        onTestFinished(release);
        expect((await request(`${url}/${job.id}/detail`, { headers: ADMIN })).json).toMatchObject({ permissions: [] });
        expectError(await request(`${url}/${job.id}/detail`, { headers: OPS }), 404);
        expectError(await request(`${url}/V1StGXR8_Z5jdHi6B-myT/detail`, { headers: ADMIN }), 404);
        expectError(await request(`${url}/${job.id}/detail`), 401);
        expectError(await request(`${url}/${job.id}/details`, { headers: ADMIN }), 404);
      });

      test('logs=1 streams kept and live log lines; a plain stream carries none', async () => {
        const { registry, stream } = await setup({ throttleMs: 0 });
        const { job, release } = await loggingJob(registry);
        const withLogs = await stream(`/events?logs=1&job_id=${job.id}`);
        const plain = await stream(`/events?job_id=${job.id}`);
        const off = await stream(`/events?logs=0&job_id=${job.id}`);
        await Promise.all([withLogs.ready(), plain.ready(), off.ready()]);
        const snapshot = withLogs.ofType('job-log');
        expect(snapshot).toHaveLength(1);
        expect(snapshot[0]!.id).toBeUndefined();
        expect(JSON.parse(snapshot[0]!.data)).toEqual({
          jobId: job.id,
          lines: JSON.parse(JSON.stringify(registry.logs(job.id))),
        });
        release();
        await withLogs.until(() => withLogs.jobs().at(-1)?.state === 'success', 'the job to end');
        await plain.until(() => plain.jobs().at(-1)?.state === 'success', 'the job to end on the plain stream');
        await off.until(() => off.jobs().at(-1)?.state === 'success', 'the job to end on the logs=0 stream');
        const live = withLogs.ofType('job-log').slice(1);
        expect(live.map((event) => JSON.parse(event.data).lines.map((line: { text: string }) => line.text))).toEqual([
          ['after'],
        ]);
        expect(typeof live[0]!.id).toBe('string');
        expect(plain.ofType('job-log')).toEqual([]);
        expect(off.ofType('job-log')).toEqual([]);
      });

      test('logs must be 1 or 0, once; text is refused on streams', async () => {
        const { url, server } = await setup();
        for (const query of ['logs=2', 'logs=true', 'logs=', 'logs=1&logs=1']) {
          const error = expectError(await request(`${url}/events?${query}`, { headers: ADMIN }), 400);
          expect(error.field).toBe('logs');
        }
        expect(expectError(await request(`${url}/events?text=x`, { headers: ADMIN }), 400).field).toBe('text');
        expect(server.openStreams()).toBe(0);
      });
    });

    describe('stream', () => {
      test('headers, retry first, snapshot newest first without ids, then ready carrying the head id', async () => {
        const { registry, stream } = await setup({ retryMs: 1234 });
        const jobs = await times(
          3,
          async (i) => await registry.enqueue({ category: 'sync-push', target: { peer: `p${i + 1}` } }),
        );
        await registry.update(jobs[0]!.id, { state: 'running', progress: 0.25 });
        const head = registry.head();
        const client = await stream();
        expect(client.status).toBe(200);
        expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        expect(client.headers['cache-control']).toBe('private, no-store, no-transform');
        expect(client.headers['x-accel-buffering']).toBe('no');
        expect(client.headers.connection).toBe('keep-alive');
        expect(client.headers['content-encoding']).toBeUndefined();
        expect(await client.ready()).toBe(head);
        expect(client.raw.startsWith('retry: 1234\n\n')).toBe(true);
        expect(client.retry).toBe(1234);
        const updates = client.ofType('job-update');
        expect(ids(client.jobs())).toEqual(ids(jobs).reverse());
        // Snapshot frames carry no id: a client cut off mid-snapshot resumes from what it had before.
        expect(updates.every((event) => event.id === undefined)).toBe(true);
        expect(client.jobs()[2]).toEqual(JSON.parse(JSON.stringify(registry.get(jobs[0]!.id))));
        // Exact frames: one job-update frame, then ready as the last frame so far.
        const snapshot = registry.get(jobs[2]!.id);
        expect(client.raw).toContain(`\n\nevent: job-update\ndata: ${JSON.stringify(snapshot)}\n\n`);
        expect(client.raw.endsWith(`id: ${head}\nevent: ready\ndata: ${JSON.stringify({ head })}\n\n`)).toBe(true);
        expect(client.ofType('ready')[0]!.id).toBe(head);
        expect(client.events.map((event) => event.event)).toEqual(['job-update', 'job-update', 'job-update', 'ready']);
      });

      test('with no matching job the snapshot is empty and ready still comes', async () => {
        const { registry, stream } = await setup();
        await registry.enqueue({ category: 'sync-push' });
        const client = await stream('/events?category=nothing-matches');
        expect(await client.ready()).toBe(registry.head());
        expect(client.jobs()).toEqual([]);
      });

      test('the snapshot is capped at 100 jobs', async () => {
        const { registry, stream } = await setup();
        const created = await times(105, () => registry.enqueue({ category: 'sync-push' }));
        const client = await stream();
        await client.ready();
        expect(ids(client.jobs())).toEqual(ids(created).reverse().slice(0, 100));
      });

      test('live updates arrive in order, each with a new increasing id', async () => {
        const { registry, stream } = await setup();
        const client = await stream();
        await client.ready();
        const job = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
        await registry.update(job.id, { state: 'running', phase: 'connecting', progress: 0.1 });
        await registry.update(job.id, { progress: 0.5, message: 'Half way\r\nthere' });
        await registry.update(job.id, { state: 'success', message: 'Done' });
        await client.until(() => client.jobs().length === 4, 'four updates');
        const jobs = client.jobs();
        expect(jobs.map((j) => j.version)).toEqual([1, 2, 3, 4]);
        expect(jobs.map((j) => j.state)).toEqual(['queued', 'running', 'running', 'success']);
        expect(jobs[2]!.message).toBe('Half way\r\nthere');
        expect(jobs[3]).toEqual(JSON.parse(JSON.stringify(registry.get(job.id))));
        const eventIds = client.ofType('job-update').map((event) => sequence(event.id));
        expect(eventIds).toEqual([...eventIds].sort((x, y) => x - y));
        expect(new Set(eventIds).size).toBe(4);
        expect(client.ofType('job-update').at(-1)!.id).toBe(registry.head());
      });

      test('a progress flood is throttled per job; every state, the final snapshot and exact replay remain', async () => {
        const { registry, stream } = await setup({ throttleMs: 40 });
        const client = await stream();
        await client.ready();
        const job = await registry.enqueue({ category: 'sync-push' });
        await registry.update(job.id, { state: 'running' });
        for (let i = 1; i <= 200; i++) await registry.update(job.id, { progress: i / 200 });
        await client.until(() => client.jobs().at(-1)?.version === 202, 'the newest progress snapshot');
        await registry.update(job.id, { state: 'pending', message: 'Approve?' });
        await registry.update(job.id, { state: 'running' });
        await registry.update(job.id, { state: 'success' });
        await client.until(() => client.jobs().at(-1)?.state === 'success', 'success');
        const versions = client.jobs().map((j) => j.version);
        expect(versions).toEqual([...versions].sort((x, y) => x - y));
        expect(versions.length).toBeLessThan(10);
        expect(client.jobs().map((j) => j.state)).toEqual(
          expect.arrayContaining(['queued', 'running', 'pending', 'success']),
        );
        expect(client.jobs().at(-1)).toEqual(JSON.parse(JSON.stringify(registry.get(job.id))));
        // Resuming from the first event replays from the registry's buffer, not from what the throttle
        // sent: the client reaches the final snapshot through every state (a replay this large may
        // itself be coalesced while the socket is full, but never loses a state).
        const resumed = await stream('/events', { ...ADMIN, 'last-event-id': client.ofType('job-update')[0]!.id! });
        await resumed.ready();
        const replayed = resumed.jobs();
        expect(replayed[0]?.version).toBe(2);
        expect(replayed.map((j) => j.state).filter((state, i, all) => state !== all[i - 1])).toEqual([
          'running',
          'pending',
          'running',
          'success',
        ]);
        expect(replayed.at(-1)).toEqual(client.jobs().at(-1));
      });

      test('stream filters: job_id, category and target.<field>, OR within, AND across', async () => {
        const { registry, stream } = await setup();
        const a = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
        const b = await registry.enqueue({ category: 'sync-pull', target: { peer: 'peer-a' } });
        const c = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-b' } });
        const byCategory = await stream('/events?category=sync-push&target.peer=peer-a&target.peer=peer-b');
        const byId = await stream(`/events?job_id=${b.id}&job_id=${c.id}`);
        await Promise.all([byCategory.ready(), byId.ready()]);
        expect(ids(byCategory.jobs())).toEqual([c.id, a.id]);
        expect(ids(byId.jobs())).toEqual([c.id, b.id]);
        await registry.update(b.id, { state: 'running' });
        await registry.update(a.id, { state: 'running' });
        const d = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-c' } });
        await registry.update(c.id, { state: 'running' });
        await byCategory.until(() => byCategory.jobs().length === 4, 'a and c live');
        await byId.until(() => byId.jobs().length === 4, 'b and c live');
        expect(ids(byCategory.jobs().slice(2))).toEqual([a.id, c.id]);
        expect(ids(byId.jobs().slice(2))).toEqual([b.id, c.id]);
        expect(ids([...byCategory.jobs(), ...byId.jobs()])).not.toContain(d.id);
      });

      test('scopes: snapshots and live updates leave out jobs of other scopes', async () => {
        const { registry, stream } = await setup();
        const adminJob = await registry.enqueue({ category: 'sync-push' });
        const opsJob = await registry.enqueue({ category: 'sync-push', scope: 'ops' });
        const client = await stream('/events', OPS);
        await client.ready();
        expect(ids(client.jobs())).toEqual([opsJob.id]);
        await registry.update(adminJob.id, { state: 'running' });
        await registry.update(opsJob.id, { state: 'running' });
        await client.until(() => client.jobs().length === 2, 'the ops job update');
        expect(ids(client.jobs())).toEqual([opsJob.id, opsJob.id]);
      });

      test('heartbeats come every heartbeatMs and carry no id', async () => {
        const { stream } = await setup({ heartbeatMs: 40 });
        const client = await stream();
        await client.ready();
        await client.until(() => client.ofType('heartbeat').length >= 2, 'two heartbeats');
        const beat = client.ofType('heartbeat')[0]!;
        expect(beat.id).toBeUndefined();
        const { at } = JSON.parse(beat.data);
        expect(new Date(at).toISOString()).toBe(at);
        expect(client.raw).toMatch(/\n\nevent: heartbeat\ndata: \{"at":"[^"]+"\}\n\n/);
      });

      test('a real EventSource follows the stream', async () => {
        const { EventSource } = await import('eventsource');
        const { url, registry } = await setup();
        const job = await registry.enqueue({ category: 'sync-push' });
        const received: Array<{ type: string; id: string; data: string }> = [];
        const source = new EventSource(`${url}/events`, {
          fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...ADMIN } }),
        });
        onTestFinished(() => source.close());
        const record = (event: MessageEvent) =>
          received.push({ type: event.type, id: event.lastEventId, data: String(event.data) });
        source.addEventListener('job-update', record);
        source.addEventListener('ready', (event) => {
          record(event);
          void registry.update(job.id, { state: 'running' });
        });
        await waitFor(() => received.length === 3, 'snapshot, ready and one update');
        expect(received.map((event) => event.type)).toEqual(['job-update', 'ready', 'job-update']);
        expect(JSON.parse(received[2]!.data).state).toBe('running');
        expect(received[2]!.id).toBe(registry.head());
      });
    });

    describe('resume', () => {
      test('a real EventSource reconnects after the server ends its stream and resumes without a gap', async () => {
        const { EventSource } = await import('eventsource');
        const { url, registry, server } = await setup({ retryMs: 20 });
        const job = await registry.enqueue({ category: 'sync-push' });
        const received: Array<{ type: string; id: string; version: number | null }> = [];
        const source = new EventSource(`${url}/events`, {
          fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...ADMIN } }),
        });
        onTestFinished(() => source.close());
        const record = (event: MessageEvent) =>
          received.push({
            type: event.type,
            id: event.lastEventId,
            version: event.type === 'job-update' ? JSON.parse(String(event.data)).version : null,
          });
        source.addEventListener('job-update', record);
        source.addEventListener('ready', record);
        await waitFor(() => received.length === 2, 'snapshot and ready');
        await registry.update(job.id, { state: 'running' });
        await waitFor(() => received.length === 3, 'the first live update');
        server.closeStreams();
        // Changes while the client is away: the resumed stream must carry each of them exactly once.
        await registry.update(job.id, { progress: 0.5 });
        await registry.update(job.id, { state: 'success' });
        await waitFor(() => received.length === 6, 'the replay and ready after reconnecting');
        expect(received.map((event) => [event.type, event.version])).toEqual([
          ['job-update', 1],
          ['ready', null],
          ['job-update', 2],
          ['job-update', 3],
          ['job-update', 4],
          ['ready', null],
        ]);
        expect(received[4]!.id).toBe(registry.head());
      });

      async function missedEvents(registry: JobRegistry) {
        const a = await registry.enqueue({ category: 'sync-push' });
        const b = await registry.enqueue({ category: 'sync-pull', scope: 'ops' });
        await registry.update(a.id, { state: 'running', progress: 0.2 });
        await registry.update(b.id, { state: 'running' });
        await registry.update(a.id, { state: 'success' });
        return { a, b };
      }

      test('Last-Event-ID replays exactly the missed events, with no snapshot', async () => {
        const { registry, stream } = await setup();
        await registry.enqueue({ category: 'before' });
        const first = await stream();
        const resumeFrom = await first.ready();
        first.close();
        const seen: string[] = [];
        const off = registry.subscribe({ scopes: ['admin'] }, (event) => seen.push(event.id));
        const { a } = await missedEvents(registry);
        off();
        const client = await stream('/events', { ...ADMIN, 'last-event-id': resumeFrom });
        expect(await client.ready()).toBe(registry.head());
        expect(client.ofType('resync')).toEqual([]);
        const replayed = client.ofType('job-update');
        expect(replayed.map((event) => event.id)).toEqual(seen);
        expect(client.jobs().map((job) => [job.id, job.version])).toEqual([
          [a.id, 1],
          [a.id, 2],
          [a.id, 3],
        ]);
        expect(client.events.map((event) => event.event)).toEqual(['job-update', 'job-update', 'job-update', 'ready']);
      });

      test('the lastEventId query parameter resumes the same way; an empty header counts as none', async () => {
        const { registry, stream } = await setup();
        const resumeFrom = registry.head();
        const { a } = await missedEvents(registry);
        const query = await stream(`/events?lastEventId=${encodeURIComponent(resumeFrom)}`, { ...ADMIN });
        await query.ready();
        expect(query.jobs().map((job) => job.version)).toEqual([1, 2, 3]);
        expect(query.ofType('job-update').every((event) => sequence(event.id) > sequence(resumeFrom))).toBe(true);
        const emptyHeader = await stream('/events', { ...ADMIN, 'last-event-id': '' });
        await emptyHeader.ready();
        expect(emptyHeader.ofType('resync')).toEqual([]);
        expect(emptyHeader.jobs()).toEqual([JSON.parse(JSON.stringify(registry.get(a.id)))]);
        expect(emptyHeader.ofType('job-update')[0]!.id).toBeUndefined();
        expect(emptyHeader.ofType('ready')[0]!.id).toBe(registry.head());
      });

      test('resuming from the head replays nothing and sends only ready', async () => {
        const { registry, stream } = await setup();
        await registry.enqueue({ category: 'sync-push' });
        const client = await stream('/events', { ...ADMIN, 'last-event-id': registry.head() });
        await client.ready();
        expect(client.events.map((event) => event.event)).toEqual(['ready']);
      });

      test('replay leaves out jobs of other scopes', async () => {
        const { registry, stream } = await setup();
        const resumeFrom = registry.head();
        const { b } = await missedEvents(registry);
        const client = await stream('/events', { ...OPS, 'last-event-id': resumeFrom });
        await client.ready();
        expect(client.jobs().map((job) => [job.id, job.state])).toEqual([
          [b.id, 'queued'],
          [b.id, 'running'],
        ]);
      });

      test('replay then live: none missing, none twice', async () => {
        const { registry, stream } = await setup({ throttleMs: 0 });
        const job = await registry.enqueue({ category: 'sync-push' });
        const resumeFrom = registry.head();
        await registry.update(job.id, { state: 'running' });
        const client = await stream('/events', { ...ADMIN, 'last-event-id': resumeFrom });
        await client.ready();
        for (let i = 1; i <= 5; i++) await registry.update(job.id, { progress: i / 10 });
        await client.until(() => client.jobs().length === 6, 'the replay and five live updates');
        expect(client.jobs().map((j) => j.version)).toEqual([2, 3, 4, 5, 6, 7]);
      });

      test.each([
        ['an id older than the replay buffer', (head: string) => `${head.split('-')[0]}-1`],
        ['an id from another epoch', () => 'zzzzzzzzzz-1'],
        ['a malformed id', () => 'not an event id'],
        ['an overlong id', () => `x${'1'.repeat(300)}`],
        ['an id newer than any sent', (head: string) => `${head.split('-')[0]}-${sequence(head) + 10}`],
      ])('%s gets resync, then a fresh snapshot and ready', async (_what, idFor) => {
        const { registry, stream } = await setup({}, { store: memoryStore({ replayBufferSize: 3 }) });
        const jobs = await times(4, async (i) => await registry.enqueue({ category: `c${i}` }));
        await registry.update(jobs[0]!.id, { state: 'running' });
        await registry.enqueue({ category: 'other', scope: 'ops' });
        const head = registry.head();
        const client = await stream('/events', { ...ADMIN, 'last-event-id': idFor(head) });
        expect(await client.ready()).toBe(head);
        const types = client.events.map((event) => event.event);
        expect(types).toEqual(['resync', 'job-update', 'job-update', 'job-update', 'job-update', 'ready']);
        expect(typeof JSON.parse(client.ofType('resync')[0]!.data).reason).toBe('string');
        expect(ids(client.jobs())).toEqual(ids(jobs).reverse());
        expect(client.ofType('job-update').every((event) => event.id === undefined)).toBe(true);
        expect(client.ofType('ready')[0]!.id).toBe(head);
      });

      test('a resync from the lastEventId query parameter too', async () => {
        const { stream, registry } = await setup();
        await registry.enqueue({ category: 'sync-push' });
        const client = await stream('/events?lastEventId=zzzzzzzzzz-1');
        await client.ready();
        expect(client.events.map((event) => event.event)).toEqual(['resync', 'job-update', 'ready']);
      });
    });

    describe('streams end with the login', () => {
      const DENIED_UNAUTHORIZED = 'event: denied\ndata: {"reason":"unauthorized"}\n\n';

      test.each([
        ['has logged out', 'admin', null, 'unauthorized', 401],
        ['is now another principal', 'admin', { id: 'ops', scopes: ['admin'] }, 'unauthorized', null],
        ['has lost a scope the stream shows', 'both', { id: 'both', scopes: ['ops'] }, 'forbidden', null],
        ['holds no scope any more', 'admin', { id: 'admin', scopes: [] }, 'forbidden', 403],
      ] as const)(
        'a stream whose principal %s gets `denied` at the next re-check, then ends',
        async (_what, user, now, reason, refused) => {
          const { url, registry, server, stream } = await setup({ reauthorizeMs: 25 });
          const job = await registry.enqueue({ category: 'sync-push' });
          const client = await stream('/events', { 'x-user': user });
          await client.ready();
          changed.set(user, now === null ? null : { ...now, scopes: [...now.scopes] });
          await client.closedByServer();
          expect(client.events.at(-1)).toEqual({ id: undefined, event: 'denied', data: JSON.stringify({ reason }) });
          expect(client.raw.endsWith(`event: denied\ndata: {"reason":"${reason}"}\n\n`)).toBe(true);
          await waitFor(() => server.openStreams() === 0, 'the denied stream to be released');
          // Nothing after the end; a new stream gets what authorize now says.
          await registry.update(job.id, { state: 'running' });
          expect(client.jobs().map((j) => j.version)).toEqual([1]);
          if (refused !== null) expectError(await request(`${url}/events`, { headers: { 'x-user': user } }), refused);
        },
      );

      test('a stream still allowed stays open through re-checks and keeps receiving', async () => {
        const { registry, stream } = await setup({ reauthorizeMs: 20 });
        const job = await registry.enqueue({ category: 'sync-push' });
        const client = await stream('/events', { 'x-user': 'both' });
        await client.ready();
        // Gaining a scope changes nothing on an open stream (a reconnect picks it up).
        changed.set('both', { id: 'both', scopes: ['admin', 'ops', 'extra'] });
        const calls = authorizeCalls;
        await waitFor(() => authorizeCalls >= calls + 3, 'three re-checks');
        await registry.update(job.id, { state: 'running' });
        await client.until(() => client.jobs().length === 2, 'the live update after the re-checks');
        expect(client.ended).toBe(false);
        expect(client.ofType('denied')).toEqual([]);
      });

      test('an authorize that throws on a re-check goes to onError and leaves the stream open', async () => {
        const errors: Error[] = [];
        const { registry, server, stream } = await setup({ reauthorizeMs: 20, onError: (error) => errors.push(error) });
        const job = await registry.enqueue({ category: 'sync-push' });
        const client = await stream();
        await client.ready();
        changed.set('admin', 'throw');
        await waitFor(() => errors.length >= 2, 'two failed re-checks reported');
        expect(errors[0]?.message).toContain('session store unavailable');
        await registry.update(job.id, { state: 'running' });
        await client.until(() => client.jobs().length === 2, 'the live update after the failed re-checks');
        expect(client.ended).toBe(false);
        expect(server.openStreams()).toBe(1);
      });

      test('reauthorizeMs: 0 turns re-checks off', async () => {
        const { stream } = await setup({ reauthorizeMs: 0, heartbeatMs: 20 });
        const client = await stream();
        await client.ready();
        const calls = authorizeCalls;
        changed.set('admin', null);
        await client.until(() => client.ofType('heartbeat').length >= 4, 'four heartbeats');
        expect(authorizeCalls).toBe(calls);
        expect(client.ended).toBe(false);
      });

      test("closeStreams(id) ends that principal's streams with `denied`; closeStreams() ends the rest without", async () => {
        const { registry, server, stream } = await setup();
        const opsJob = await registry.enqueue({ category: 'sync-push', scope: 'ops' });
        const admins = [await stream(), await stream('/events?category=sync-push')];
        const ops = await stream('/events', OPS);
        await Promise.all([...admins, ops].map((client) => client.ready()));
        // An id that is not one never ends everybody's streams by mistake.
        expect(() => server.closeStreams(undefined)).toThrow(/principal id/);
        expect(() => server.closeStreams('')).toThrow(/principal id/);
        server.closeStreams('nobody-with-streams');
        expect(server.openStreams()).toBe(3);

        server.closeStreams('admin');
        for (const client of admins) {
          await client.closedByServer();
          expect(client.raw.endsWith(DENIED_UNAUTHORIZED)).toBe(true);
        }
        await waitFor(() => server.openStreams() === 1, "the admin's streams to be released");
        await registry.update(opsJob.id, { state: 'running' });
        await ops.until(() => ops.jobs().length === 2, 'the live update on the other principal’s stream');
        expect(ops.ended).toBe(false);

        server.closeStreams();
        await ops.closedByServer();
        expect(ops.ofType('denied')).toEqual([]);
        expect(server.openStreams()).toBe(0);
      });
    });

    describe('lifecycle', () => {
      test('disconnecting frees every listener and the stream slot', async () => {
        const { registry, server, stream } = await setup({ heartbeatMs: 30 });
        const clients = await Promise.all([stream(), stream('/events?category=x'), stream('/events', OPS)]);
        await Promise.all(clients.map((client) => client.ready()));
        // The endpoint's streams share one registry subscription.
        expect(registry.health().subscribers).toBe(1);
        expect(server.openStreams()).toBe(3);
        for (const client of clients) client.close();
        await waitFor(
          () => registry.health().subscribers === 0 && server.openStreams() === 0,
          'listeners and streams to be released',
        );
        // The registry still serves new streams afterwards.
        const again = await stream();
        await again.ready();
        expect(registry.health().subscribers).toBe(1);
      });

      test('registry.close() ends every stream, after the jobs it finished', async () => {
        const { registry, server, stream } = await setup();
        const job = await registry.enqueue({ category: 'sync-push' });
        const clients = await Promise.all([stream(), stream()]);
        await Promise.all(clients.map((client) => client.ready()));
        await registry.close();
        for (const client of clients) {
          await client.closedByServer();
          expect(client.jobs().at(-1)).toMatchObject({ id: job.id, state: 'error' });
        }
        expect(server.openStreams()).toBe(0);
        expect(registry.health().subscribers).toBe(0);
      });

      test('closing the server ends open streams promptly', async () => {
        const { server, stream } = await setup();
        const clients = await Promise.all([stream(), stream('/events', OPS)]);
        await Promise.all(clients.map((client) => client.ready()));
        await server.close();
        for (const client of clients) await client.closedByServer();
        expect(server.openStreams()).toBe(0);
      });

      test('a stalled reader is disconnected while a normal reader keeps receiving', async () => {
        const maxBufferedBytes = 64 * 1024;
        const { server, url, registry, stream } = await setup({ maxBufferedBytes });
        const reader = await stream('/events', OPS);
        await reader.ready();
        const stalled = await openStalledStream(`${url}/events`, OPS);
        onTestFinished(() => void stalled.destroy());
        await waitFor(() => server.openStreams() === 2, 'the stalled stream to open');
        const payload = { blob: 'x'.repeat(32 * 1024) };
        let sent = 0;
        // Distinct jobs, so coalescing cannot absorb the backlog: only eviction can bound it. The
        // producer waits for the normal reader, as a normal reader on a normal network keeps up.
        while (server.openStreams() === 2) {
          if (sent >= 2000) throw new Error(`the stalled reader was never evicted after ${sent} jobs`);
          await registry.enqueue({ category: 'bulk', scope: 'ops', data: payload });
          sent++;
          await reader.until(() => reader.events.length === sent + 1, `job ${sent} at the normal reader`);
        }
        const last = await registry.enqueue({ category: 'after-eviction', scope: 'ops' });
        await reader.until(() => reader.events.length === sent + 2, 'the job after eviction');
        expect(reader.jobs().at(-1)!.id).toBe(last.id);
        expect(reader.jobs()).toHaveLength(sent + 1);
        expect(reader.ended).toBe(false);
        expect(server.openStreams()).toBe(1);
        console.info(`[${name}] stalled reader evicted after ${sent} jobs of ~32 KB`);
      });
    });
  });
}
