import { expect, test } from 'vitest';
import { createJobRegistry, createJobsHandler } from '../../src/index.js';
import { serveFetch } from '../support/fetch-bridge.js';
import { serveRoutes } from '../support/servers.js';
import { request } from './client.js';
import { describeHttpContract, principalFor } from './http-contract.js';

const authorize = (request: Request) => {
  if (!(request instanceof Request)) throw new Error('authorize must receive the fetch Request');
  return principalFor(request.headers.get('x-user') ?? undefined);
};

describeHttpContract('the fetch handler', {
  servesEveryPath: true,
  start: (registry, options) => serveRoutes('fetch', registry, { ...options, authorize }),
});

test('the fetch handler answers other methods with 405 and paths outside its prefix with 404', async () => {
  const registry = await createJobRegistry();
  const handle = createJobsHandler(registry, { allowAnonymous: true });
  const { server, origin } = await serveFetch((request) => handle(request));
  try {
    const post = await request(`${origin}/api/admin/jobs`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((post.json as { error: { code: string } }).error.code).toBe('method_not_allowed');
    expect((await request(`${origin}/elsewhere`)).status).toBe(404);
    expect((await request(`${origin}/api/admin/jobsx`)).status).toBe(404);
  } finally {
    server.close();
    await registry.close();
  }
});
