import http, { type IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { expect, onTestFinished, test } from 'vitest';
import { toNodeHandler } from '../../src/adapters/node.js';
import { createJobsEndpoint, type JobsEndpoint } from '../../src/index.js';
import { testRegistry, withFailingList } from '../support/registries.js';
import { listenUntilTestEnds, serveRoutes } from '../support/servers.js';
import { SseClient } from '../support/sse-client.js';
import { rawRequest } from './client.js';
import { describeHttpContract, principalFor } from './http-contract.js';

const authorize = (req: IncomingMessage) => {
  if (!(req instanceof http.IncomingMessage)) throw new Error('authorize must receive the Node request');
  const user = req.headers['x-user'];
  return principalFor(typeof user === 'string' ? user : undefined);
};

/** A plain `node:http` server that hands every request to the handler, as its JSDoc example does. */
async function serve(endpoint: JobsEndpoint<IncomingMessage>): Promise<{ server: http.Server; origin: string }> {
  const handle = toNodeHandler(endpoint, { prefix: '/api/admin/jobs' });
  // The promise is dropped on purpose (`void`): it must never reject, or the process would die.
  const server = http.createServer((req, res) => void handle(req, res, req));
  return { server, origin: await listenUntilTestEnds(server) };
}

describeHttpContract('the raw Node bridge', {
  servesEveryPath: true,
  start: (registry, options) => serveRoutes('node', registry, { ...options, authorize }),
});

test('the raw Node bridge answers a target that is no path (`*`, absolute-form elsewhere) 404, not 401', async () => {
  const registry = await testRegistry();
  const endpoint = createJobsEndpoint<IncomingMessage>(registry, { authorize });
  const { origin } = await serve(endpoint);
  for (const target of ['*', 'http://other.example/favicon.ico', 'ftp://x/api/admin/jobs']) {
    const answer = await rawRequest(origin, target);
    expect(answer.status, target).toBe(404);
    expect(answer.json).toEqual({ error: { code: 'not_found', message: 'No such route' } });
  }
  // Absolute-form inside the prefix is served like the path.
  expect((await rawRequest(origin, `http://any.example/api/admin/jobs`)).status).toBe(401);
});

test('any raw request target, inside the prefix or not: never a 5xx or a crash; a valid answer or the error JSON', async () => {
  const registry = await testRegistry();
  const endpoint = createJobsEndpoint<IncomingMessage>(registry, { authorize, maxStreamsPerPrincipal: 1000 });
  const { server, origin } = await serve(endpoint);
  // Before the server closes: open streams would keep it waiting.
  onTestFinished(() => endpoint.closeStreams());
  const target = fc.oneof(
    fc.stringMatching(/^[\x21-\x7e]{1,60}$/),
    fc.stringMatching(/^[\x21-\x7e]{0,40}$/).map((rest) => `/api/admin/jobs${rest}`),
    fc.stringMatching(/^[\x21-\x7e]{0,40}$/).map((rest) => `http://h/api/admin/jobs${rest}`),
    fc.constantFrom('*', '//', '//x]', '/\\%zz', 'http://[', 'http://h', 'h:80', '/api/admin/jobs/..'),
  );
  let reached = 0;
  server.on('request', () => reached++);
  await fc.assert(
    fc.asyncProperty(target, fc.boolean(), async (path, loggedIn) => {
      const before = reached;
      const answer = await rawRequest(origin, path, loggedIn ? { 'x-user': 'admin' } : {});
      expect(answer.status, `${path} → ${answer.body}`).toBeLessThan(500);
      // Node's own parser refuses some targets (`!`) with a bare 400 before any handler runs.
      if (reached === before) expect(answer.status).toBe(400);
      else if (answer.status >= 400) {
        expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
        expect((answer.json as { error: { code: string } }).error.code).toMatch(/^[a-z_]+$/);
      }
    }),
    { numRuns: 300 },
  );
});

test('a failure outside the routes answers 500 in the error JSON (or drops a started stream) and never rejects', async () => {
  const registry = await testRegistry();
  const errors: Error[] = [];
  const endpoint = createJobsEndpoint<IncomingMessage>(registry, { authorize, onError: (error) => errors.push(error) });
  const handle = toNodeHandler(endpoint, { prefix: '/api/admin/jobs' });
  const outcomes: Array<Promise<void>> = [];
  // Header values Node refuses to send make `writeHead` throw after the routes answered.
  const server = http.createServer((req, res) => {
    outcomes.push(handle(req, res, req, { 'x-broken': 'line\nbreak' }));
  });
  const origin = await listenUntilTestEnds(server);
  const answer = await rawRequest(origin, '/api/admin/jobs', { 'x-user': 'admin' });
  expect(answer.status).toBe(500);
  expect(answer.json).toEqual({
    error: { code: 'internal_error', message: 'The job routes failed; the server log says why' },
  });
  expect(answer.headers['x-broken']).toBeUndefined();
  const stream = await SseClient.open(`${origin}/api/admin/jobs/events`, { 'x-user': 'admin' });
  onTestFinished(() => stream.close());
  expect(stream.status).toBe(500);
  await Promise.all(outcomes);
  expect(errors.map((error) => error.message)).toEqual([
    expect.stringContaining('job route failed'),
    expect.stringContaining('job route failed'),
  ]);
  expect(endpoint.openStreams).toBe(0);
});

test('a stream that fails after its headers were sent is dropped and reported; the handler still resolves', async () => {
  const registry = await testRegistry();
  const errors: Error[] = [];
  const endpoint = createJobsEndpoint<IncomingMessage>(withFailingList(registry), {
    authorize,
    onError: (error) => errors.push(error),
  });
  const handle = toNodeHandler(endpoint, { prefix: '/api/admin/jobs' });
  const outcomes: Array<Promise<void>> = [];
  const server = http.createServer((req, res) => {
    outcomes.push(handle(req, res, req));
  });
  const origin = await listenUntilTestEnds(server);
  const client = await SseClient.open(`${origin}/api/admin/jobs/events`, { 'x-user': 'admin' });
  expect(client.status).toBe(200);
  await client.closedByServer();
  await Promise.all(outcomes);
  expect(errors[0]?.message).toContain('store unavailable');
  expect(endpoint.openStreams).toBe(0);
  expect(registry.health().subscribers).toBe(0);
});
