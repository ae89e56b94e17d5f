import http from 'node:http';
import express, { type Request as ExpressRequest } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, onTestFinished, test } from 'vitest';
import { jobsRouter } from '../../src/adapters/express.js';
import { jobsPlugin } from '../../src/adapters/fastify.js';
import { createJobsHandler, type JobRegistry, JobsError } from '../../src/index.js';
import type { JobListAnswer } from '../../src/protocol/actions.js';
import { testRegistry } from '../support/registries.js';
import { listenUntilTestEnds } from '../support/servers.js';
import { principalFor } from './http-contract.js';

// `listPage`: what the list route answers, for a page rendered on the server, on every adapter. Each
// server serves the list route and a page route that renders `listPage(req)` as JSON, so the two can
// be compared byte for byte, and refusals compared with the route's.

type Serve = (registry: JobRegistry) => Promise<string>;
const allowAdmin = () => true;

const servers: Record<string, Serve> = {
  async express(registry) {
    const app = express();
    const router = jobsRouter(registry, {
      authorize: (req: ExpressRequest) => principalFor(req.get('x-user')),
      authorizeAction: allowAdmin,
    });
    app.use('/api/admin/jobs', router);
    app.get('/page', async (req, res) => {
      try {
        res.json(await router.listPage(req));
      } catch (error) {
        res.status(599).json(refusal(error));
      }
    });
    return listenUntilTestEnds(http.createServer(app));
  },
  async fastify(registry) {
    const app = Fastify();
    await app.register(jobsPlugin, {
      registry,
      authorize: (request: FastifyRequest) => principalFor(request.headers['x-user'] as string | undefined),
      authorizeAction: allowAdmin,
    });
    app.get('/page', async (request, reply) => {
      try {
        return await app.realtimeJobs.listPage(request);
      } catch (error) {
        return reply.code(599).send(refusal(error));
      }
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    onTestFinished(() => app.close());
    const address = app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  },
  async fetch(registry) {
    const handle = createJobsHandler(registry, {
      authorize: (request: Request) => principalFor(request.headers.get('x-user') ?? undefined),
      authorizeAction: allowAdmin,
    });
    const server = http.createServer(async (req, res) => {
      const request = new globalThis.Request(`http://local${req.url}`, {
        headers: req.headers as Record<string, string>,
      });
      const url = new URL(request.url);
      let status = 200;
      let body: unknown;
      if (url.pathname === '/page') {
        body = await handle.listPage(request).catch((error) => {
          status = 599;
          return refusal(error);
        });
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        return;
      }
      const response = await handle(request);
      res.writeHead(response.status, Object.fromEntries(response.headers)).end(await response.text());
    });
    return listenUntilTestEnds(server);
  },
};

function refusal(error: unknown) {
  if (!(error instanceof JobsError)) return { unexpected: String(error) };
  return { status: error.status, code: error.code, field: error.field ?? null, message: error.message };
}

async function get(url: string, user?: string) {
  const response = await fetch(url, { headers: user ? { 'x-user': user } : {} });
  return { status: response.status, body: await response.json() };
}

describe.each(Object.keys(servers))('listPage on %s', (kind) => {
  const serve = servers[kind] as Serve;

  test('answers what the list route answers, for the page’s own query and for one given', async () => {
    const registry = await testRegistry();
    const origin = await serve(registry);
    for (let i = 0; i < 5; i++) await registry.enqueue({ category: i % 2 ? 'sync-push' : 'sync-pull' });
    await registry.enqueue({ category: 'sync-push', scope: 'ops' });
    for (const query of ['', '?limit=2', '?category=sync-push', '?state=queued&limit=1']) {
      const route = await get(`${origin}/api/admin/jobs${query}`, 'admin');
      const page = await get(`${origin}/page${query}`, 'admin');
      expect(route.status).toBe(200);
      expect(page).toEqual(route);
    }
    // A page follows `next` like the route; scopes hold (the ops job is not the admin's).
    const first = (await get(`${origin}/page?limit=3`, 'admin')).body as JobListAnswer;
    const second = (await get(`${origin}/page?limit=3&before=${first.next}`, 'admin')).body as JobListAnswer;
    expect([...first.jobs, ...second.jobs]).toHaveLength(5);
    expect(second.next).toBeNull();
    expect(Object.keys(first.permissions ?? {})).toEqual(first.jobs.map((job) => job.id));
  });

  test('refuses as the route refuses: 401 logged out, 403 without scopes, 400 naming the parameter', async () => {
    const registry = await testRegistry();
    const origin = await serve(registry);
    const cases: Array<[string, string | undefined, number, string, string | null]> = [
      ['', undefined, 401, 'unauthorized', null],
      ['', 'nobody', 403, 'forbidden', null],
      ['?limit=0', 'admin', 400, 'bad_request', 'limit'],
      ['?before=not-a-cursor', 'admin', 400, 'bad_request', 'before'],
      ['?state=flying', 'admin', 400, 'bad_request', 'state'],
      ['?text=a&text=b', 'admin', 400, 'bad_request', 'text'],
    ];
    for (const [query, user, status, code, field] of cases) {
      const route = await get(`${origin}/api/admin/jobs${query}`, user);
      const page = await get(`${origin}/page${query}`, user);
      expect(route.status, `${query} as ${user}`).toBe(status);
      expect(page.status).toBe(599);
      expect(page.body).toEqual({ status, code, field, message: route.body.error.message });
      expect(route.body.error.code).toBe(code);
    }
  });
});
