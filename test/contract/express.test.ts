import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import compression from 'compression';
import express, { type ErrorRequestHandler, type Request } from 'express';
import { describe, expect, onTestFinished, test } from 'vitest';
import { jobsRouter } from '../../src/adapters/express.js';
import { createJobRegistry, type JobRegistry, type JobsHandlerOptions } from '../../src/index.js';
import { testRegistry, withFailingList } from '../support/registries.js';
import { listenUntilTestEnds, serveRoutes } from '../support/servers.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';
import { request } from './client.js';
import { describeHttpContract, principalFor } from './http-contract.js';

const authorize = (req: Request) => {
  if (typeof req.get !== 'function' || !req.app) throw new Error('authorize must receive the Express req');
  return principalFor(req.get('x-user'));
};

describeHttpContract('Express', {
  routesSomePathsElsewhere: true,
  start: (registry, options) => serveRoutes('express', registry, { ...options, authorize }),
});

describe('Express router', () => {
  async function app(
    configure: (app: express.Express, registry: JobRegistry) => void,
    options: JobsHandlerOptions<Request> = {},
  ) {
    const registry = await testRegistry();
    const application = express();
    const router = jobsRouter(registry, { authorize, ...options });
    configure(application, registry);
    application.use('/api/admin/jobs', router);
    const origin = await listenUntilTestEnds(http.createServer(application));
    // Before the server closes: open streams would keep it waiting.
    onTestFinished(() => router.closeStreams());
    return { registry, router, url: `${origin}/api/admin/jobs` };
  }

  test('refuses to be created without authorize, unless allowAnonymous is given on purpose', async () => {
    const registry = await createJobRegistry();
    expect(() => jobsRouter(registry, {})).toThrow(/`authorize` is required/);
    expect(() => jobsRouter(registry, { authorize: 'yes' as never })).toThrow(/`authorize` must be a function/);
    expect(() => jobsRouter(registry, { authorize, heartbeatMs: 0 })).toThrow(/`heartbeatMs`/);
    expect(() => jobsRouter({} as JobRegistry, { authorize })).toThrow(/job registry/);
    expect(typeof jobsRouter(registry, { allowAnonymous: true })).toBe('function');
    await registry.close();
  });

  test('allowAnonymous serves every job without a principal', async () => {
    const registry = await testRegistry();
    const application = express();
    application.use('/jobs', jobsRouter(registry, { allowAnonymous: true }));
    const origin = await listenUntilTestEnds(http.createServer(application));
    const job = await registry.enqueue({ category: 'sync-push', scope: 'anything' });
    expect((await request(`${origin}/jobs/${job.id}`)).status).toBe(200);
  });

  test('still streams promptly when the app compresses every response', async () => {
    const { registry, url, router } = await app((application) => application.use(compression({ threshold: 0 })));
    const job = await registry.enqueue({ category: 'sync-push' });
    const list = await request(url, { headers: { 'x-user': 'admin', 'accept-encoding': 'gzip' } });
    expect(list.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(list.bytes).toString()).jobs).toHaveLength(1);

    const client = await SseClient.open(`${url}/events`, { 'x-user': 'admin', 'accept-encoding': 'gzip' });
    onTestFinished(() => client.close());
    expect(client.headers['content-encoding']).toBeUndefined();
    await client.ready();
    const started = Date.now();
    await registry.update(job.id, { state: 'running' });
    // An event held back by compression would only come out when the stream ends; this one comes
    // while the stream is still open.
    await client.until(() => client.jobs().length === 2, 'the live update');
    console.info(`[Express + compression] live update arrived after ${Date.now() - started} ms`);
    expect(client.ended).toBe(false);
    expect(router.openStreams).toBe(1);
  });

  test('routes an app adds to the router itself still answer what the job routes leave', async () => {
    const { router, url } = await app(() => {});
    // jobsRouter answers from `router.handle`; what it does not take must still reach the Router's stack.
    router.post('/custom', (_req, res) => void res.status(201).send('custom'));
    const answer = await request(`${url}/custom`, { method: 'POST', headers: { 'x-user': 'admin' } });
    expect(answer.status).toBe(201);
    expect(answer.bytes.toString()).toBe('custom');
    expect((await request(url, { headers: { 'x-user': 'admin' } })).status).toBe(200);
  });

  test('GET and HEAD everywhere, POST on the action paths only: every other request falls through to the app', async () => {
    const registry = await testRegistry();
    const application = express();
    application.use('/api/admin/jobs', jobsRouter(registry, { authorize, authorizeAction: () => true }));
    // The app's own routes, mounted after the router, under the same prefix.
    application.post('/api/admin/jobs', (_req, res) => void res.status(202).json({ started: true }));
    application.post('/api/admin/jobs/:id/start', (req, res) => void res.status(202).json({ start: req.params.id }));
    application.put('/api/admin/jobs/:id/cancel', (_req, res) => void res.status(418).json({ mine: true }));
    const origin = await listenUntilTestEnds(http.createServer(application));
    const url = `${origin}/api/admin/jobs`;
    const headers = { 'x-user': 'admin', 'x-realtime-jobs': '1' };
    const job = await registry.enqueue({ category: 'sync-push', state: 'running' });
    expect((await request(url, { method: 'POST', headers })).json).toEqual({ started: true });
    expect((await request(`${url}/${job.id}/start`, { method: 'POST', headers })).json).toEqual({ start: job.id });
    expect((await request(`${url}/${job.id}/cancel`, { method: 'PUT', headers })).status).toBe(418);
    expect(registry.get(job.id)?.state).toBe('running');
    const cancel = await request(`${url}/${job.id}/cancel`, { method: 'POST', headers });
    expect((cancel.json as { job: { state: string } }).job.state).toBe('cancelled');
  });

  test('reject reads the body express.json() parsed already, and checks it the same way', async () => {
    const { registry, url } = await app((application) => application.use(express.json()), {
      authorizeAction: () => true,
    });
    const first = await registry.enqueue({ category: 'sync-push', state: 'pending' });
    const second = await registry.enqueue({ category: 'sync-push', state: 'pending' });
    const headers = { 'x-user': 'admin', 'x-realtime-jobs': '1', 'content-type': 'application/json' };
    const ok = await request(`${url}/${first.id}/reject`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ message: 'Not now' }),
    });
    expect((ok.json as { job: unknown }).job).toMatchObject({ state: 'cancelled', message: 'Not now' });
    const bad = await request(`${url}/${second.id}/reject`, { method: 'POST', headers, body: '{"message":7}' });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { field: string } }).error.field).toBe('message');
    expect(registry.get(second.id)?.state).toBe('pending');
  });

  test('an authorize that throws answers 500 with the error JSON and reports to onError', async () => {
    const errors: Error[] = [];
    const { url } = await app(() => {}, {
      authorize: () => {
        throw new Error('session store down');
      },
      onError: (error) => errors.push(error),
    });
    const answer = await request(url);
    expect(answer.status).toBe(500);
    expect((answer.json as { error: { code: string } }).error.code).toBe('internal_error');
    expect(errors[0]?.message).toContain('session store down');
  });

  test('a stream that fails after its headers were sent drops its connection, goes to next(err), and the process lives on', async () => {
    const registry = await testRegistry();
    const router = jobsRouter(withFailingList(registry), { authorize });
    const seen: unknown[] = [];
    const application = express();
    application.use('/api/admin/jobs', router);
    // A careless error handler that answers even though headers were sent.
    const handler: ErrorRequestHandler = (error, _req, res, _next) => {
      seen.push(error);
      res.status(500).json({ error: 'oops' });
    };
    application.use(handler);
    const origin = await listenUntilTestEnds(http.createServer(application));
    const client = await SseClient.open(`${origin}/api/admin/jobs/events`, { 'x-user': 'admin' });
    expect(client.status).toBe(200);
    await client.closedByServer();
    await waitFor(() => seen.length === 1, 'the error to reach the error handler');
    expect(String(seen[0])).toContain('store unavailable');
    expect(router.openStreams).toBe(0);
    expect(registry.health().subscribers).toBe(0);
    // The server still answers.
    expect((await request(`${origin}/api/admin/jobs`, { headers: { 'x-user': 'admin' } })).status).toBe(500);
    const ok = jobsRouter(registry, { authorize });
    expect(typeof ok).toBe('function');
  });
});
