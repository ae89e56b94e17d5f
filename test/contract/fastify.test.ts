import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { describe, expect, expectTypeOf, onTestFinished, test } from 'vitest';
import { jobsPlugin, type RealtimeJobs } from '../../src/adapters/fastify.js';
import { createJobRegistry, type JobRegistry } from '../../src/index.js';
import { serveRoutes } from '../support/servers.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';
import { request } from './client.js';
import { describeHttpContract, principalFor } from './http-contract.js';

const authorize = (request: FastifyRequest) => {
  if (!request.server || !request.raw) throw new Error('authorize must receive the Fastify request');
  const user = request.headers['x-user'];
  return principalFor(typeof user === 'string' ? user : undefined);
};

/** Listens on a free port of 127.0.0.1 and answers the origin. */
const listen = (app: FastifyInstance) => app.listen({ port: 0, host: '127.0.0.1' });

describeHttpContract('Fastify', {
  rejectsBadUrlItself: true,
  parsesBodyItself: true,
  start: (registry, options) => serveRoutes('fastify', registry, { ...options, authorize }),
});

describe('Fastify plugin', () => {
  async function start(configure: (app: FastifyInstance, registry: JobRegistry) => Promise<void>) {
    const registry = await createJobRegistry();
    const app = Fastify();
    await configure(app, registry);
    const origin = await listen(app);
    onTestFinished(async () => {
      await app.close();
      await registry.close();
    });
    return { app, registry, origin };
  }

  test('register fails with a clear message without registry or authorize', async () => {
    const registry = await createJobRegistry();
    onTestFinished(() => registry.close());
    const withoutRegistry = Fastify();
    await expect(withoutRegistry.register(jobsPlugin, { authorize } as never)).rejects.toThrow(
      /the `registry` option is required/,
    );
    const withoutAuthorize = Fastify();
    await expect(withoutAuthorize.register(jobsPlugin, { registry })).rejects.toThrow(/`authorize` is required/);
    const badPrefix = Fastify();
    await expect(badPrefix.register(jobsPlugin, { registry, authorize, prefix: 'jobs' })).rejects.toThrow(/`prefix`/);
    const badOption = Fastify();
    await expect(badOption.register(jobsPlugin, { registry, authorize, retryMs: -1 })).rejects.toThrow(/`retryMs`/);
    const anonymous = Fastify();
    await anonymous.register(jobsPlugin, { registry, allowAnonymous: true });
    await anonymous.close();
  });

  test('applies its own prefix, and leaves other methods under it to the app', async () => {
    const { origin, registry } = await start(async (app, registry) => {
      await app.register(jobsPlugin, { registry, authorize, prefix: '/admin/api/jobs/' });
      app.post('/admin/api/jobs', async (_request, reply) => reply.code(202).send({ started: true }));
    });
    const job = await registry.enqueue({ category: 'sync-push' });
    const one = await request(`${origin}/admin/api/jobs/${job.id}`, { headers: { 'x-user': 'admin' } });
    expect(one.status).toBe(200);
    expect((await request(`${origin}/api/admin/jobs`, { headers: { 'x-user': 'admin' } })).status).toBe(404);
    const post = await request(`${origin}/admin/api/jobs`, { method: 'POST', headers: { 'x-user': 'admin' } });
    expect(post.status).toBe(202);
  });

  test('sits below the prefix of the context it is registered in, as any Fastify route does', async () => {
    let mounted = '';
    const { origin, registry } = await start(async (app, registry) => {
      await app.register(
        async (admin) => {
          await admin.register(jobsPlugin, { registry, authorize, prefix: '/jobs' });
          mounted = admin.realtimeJobs.prefix;
        },
        { prefix: '/admin' },
      );
    });
    expect(mounted).toBe('/admin/jobs');
    const job = await registry.enqueue({ category: 'sync-push' });
    const headers = { 'x-user': 'admin' };
    expect((await request(`${origin}/admin/jobs/${job.id}`, { headers })).status).toBe(200);
    expect((await request(`${origin}/admin/jobs`, { headers })).json).toEqual({ jobs: [job], next: null });
    expect((await request(`${origin}/jobs`, { headers })).status).toBe(404);
    const client = await SseClient.open(`${origin}/admin/jobs/events`, headers);
    onTestFinished(() => client.close());
    await client.ready();
    expect(client.jobs().map((each) => each.id)).toEqual([job.id]);
  });

  test("POST routes on the action paths only: the app's own POST routes under the prefix live beside them", async () => {
    const { origin, registry } = await start(async (app, registry) => {
      await app.register(jobsPlugin, { registry, authorize, authorizeAction: () => true });
      app.post('/api/admin/jobs/:id/start', async (request, reply) =>
        reply.code(202).send({ start: (request.params as { id: string }).id }),
      );
    });
    const job = await registry.enqueue({ category: 'sync-push', state: 'running' });
    const headers = { 'x-user': 'admin', 'x-realtime-jobs': '1' };
    const url = `${origin}/api/admin/jobs/${job.id}`;
    expect((await request(`${url}/start`, { method: 'POST', headers })).json).toEqual({ start: job.id });
    const cancel = await request(`${url}/cancel`, { method: 'POST', headers });
    expect((cancel.json as { job: { state: string } }).job.state).toBe('cancelled');
  });

  test("headers set by the app's hooks reach the stream (@fastify/cors)", async () => {
    const { origin } = await start(async (app, registry) => {
      await app.register(cors, { origin: 'https://admin.example', credentials: true });
      app.addHook('onRequest', async (_request, reply) => {
        reply.header('x-request-marker', 'set-by-hook');
      });
      await app.register(jobsPlugin, { registry, authorize });
    });
    const headers = { 'x-user': 'admin', origin: 'https://admin.example' };
    const client = await SseClient.open(`${origin}/api/admin/jobs/events`, headers);
    onTestFinished(() => client.close());
    expect(client.status).toBe(200);
    expect(client.headers['access-control-allow-origin']).toBe('https://admin.example');
    expect(client.headers['access-control-allow-credentials']).toBe('true');
    expect(client.headers['x-request-marker']).toBe('set-by-hook');
    expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await client.ready();
    const list = await request(`${origin}/api/admin/jobs`, { headers });
    expect(list.headers['access-control-allow-origin']).toBe('https://admin.example');
  });

  test('app.close() ends 50 open streams promptly', async () => {
    const registry = await createJobRegistry();
    onTestFinished(() => registry.close());
    const app = Fastify();
    await app.register(jobsPlugin, { registry, authorize, maxStreamsPerPrincipal: 64 });
    const origin = await listen(app);
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => SseClient.open(`${origin}/api/admin/jobs/events`, { 'x-user': 'admin' })),
    );
    onTestFinished(() => {
      for (const client of clients) client.close();
    });
    await Promise.all(clients.map((client) => client.ready()));
    expect(app.realtimeJobs.openStreams).toBe(50);
    const started = Date.now();
    // A loose bound, for a clear failure instead of a test timeout; the time itself is only printed.
    await Promise.race([
      app.close(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('app.close() still waits after 5 s')), 5000)),
    ]);
    console.info(`[Fastify] app.close() with 50 open streams took ${Date.now() - started} ms`);
    await waitFor(() => clients.every((client) => client.ended), 'every client to see its stream end');
    expect(app.realtimeJobs.openStreams).toBe(0);
    expect(registry.health().subscribers).toBe(0);
  });

  test('decorates the instance with typed realtimeJobs', async () => {
    const { app } = await start(async (app, registry) => {
      await app.register(jobsPlugin, { registry, authorize });
    });
    expectTypeOf(app.realtimeJobs).toEqualTypeOf<RealtimeJobs>();
    expect(app.realtimeJobs.prefix).toBe('/api/admin/jobs');
    expect(app.realtimeJobs.openStreams).toBe(0);
    expect(typeof app.realtimeJobs.closeStreams).toBe('function');
  });
});
