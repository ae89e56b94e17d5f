import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createJobsEndpoint, type JobsHandlerOptions } from '../core/http/endpoint.js';
import { queryOf } from '../core/http/routes.js';
import { normalizePrefix } from '../core/http/target.js';
import type { JobRegistry } from '../core/registry.js';
import type { JobListAnswer } from '../protocol/actions.js';
import { JobsError } from '../protocol/errors.js';
import { DEFAULT_PREFIX, JOB_ACTIONS, MAX_ACTION_BODY_BYTES } from '../protocol/wire.js';
import { type ExtraHeaders, fromNodeRequest, writeNodeResponse } from './node.js';

/**
 * Options of {@link jobsPlugin}: `authorize` receives the Fastify `request`.
 *
 * @example
 * await app.register(jobsPlugin, { registry: jobs, authorize: (request) => request.session.user ?? null });
 */
export interface JobsPluginOptions extends JobsHandlerOptions<FastifyRequest> {
  /** The registry whose jobs are served (from `createJobRegistry()`). Required. */
  registry: JobRegistry;
  /**
   * Where the routes live, below the prefix of the context the plugin is registered in. Fastify
   * applies it, to the routes only: the decorator and the `preClose` hook belong to that context.
   * @default '/api/admin/jobs'
   * @example { prefix: '/admin/api/jobs' }
   */
  prefix?: string;
}

/** What {@link jobsPlugin} decorates the Fastify instance with, as `app.realtimeJobs`. */
export interface RealtimeJobs {
  /** Where the routes live, every prefix included, e.g. `/api/admin/jobs`. */
  readonly prefix: string;
  /** Streams open right now. */
  readonly openStreams: number;
  /**
   * `closeStreams(principalId)`: ends that principal's streams with a final `denied` event; call it
   * when they log out. `closeStreams()`: ends every open stream; the plugin's `preClose` hook calls it,
   * so `app.close()` returns promptly.
   */
  closeStreams(principalId?: string): void;
  /**
   * What the list route would answer `request`'s user for `query` (default: the request's own query
   * string), for a page that renders the list on the server. Throws a `JobsError` with the route's
   * status and code (401, 403, 400 naming the parameter).
   */
  listPage(request: FastifyRequest, query?: URLSearchParams | string): Promise<JobListAnswer>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The job routes registered by `jobsPlugin` from `realtime-jobs/fastify`. */
    realtimeJobs: RealtimeJobs;
  }
}

const plugin: FastifyPluginAsync<JobsPluginOptions> = async (fastify, options) => {
  if (!options?.registry) {
    throw new JobsError(
      'invalid_options',
      'realtime-jobs/fastify: the `registry` option is required: register(jobsPlugin, { registry: await createJobRegistry(), authorize })',
      { field: 'registry' },
    );
  }
  const prefix = normalizePrefix(options.prefix ?? DEFAULT_PREFIX);
  const endpoint = createJobsEndpoint<FastifyRequest>(options.registry, options);
  /** Where the routes live, with the prefix of the context this plugin is registered in. */
  let mounted = prefix;

  // This plugin shares its parent's context (fastify-plugin), so the decorator and the hook reach the
  // app. The routes sit in an encapsulated plugin of their own, which Fastify prefixes as it prefixes
  // any route: with `prefix`, after the prefix of the context this plugin is registered in.
  await fastify.register(
    async (routes) => {
      mounted = routes.prefix;
      async function handler(request: FastifyRequest, reply: FastifyReply) {
        // Fastify has read and parsed the body already (POST routes).
        const response = await endpoint.handle(fromNodeRequest(request.raw, mounted, { body: request.body }), request);
        if (!response.stream) return reply.code(response.status).headers(response.headers).send(response.body);
        // Hijacked replies skip `onSend`: headers the app's hooks set so far go out with the stream.
        reply.hijack();
        writeNodeResponse(request.raw, reply.raw, response, reply.getHeaders() as ExtraHeaders);
      }
      // GET (HEAD follows) and POST on the action paths only: the rest stays free for the app's own
      // routes under the prefix. `{prefix}` itself, not `{prefix}/` too: that one is the wildcard's.
      routes.get('/', { prefixTrailingSlash: 'no-slash' }, handler);
      routes.get('/*', handler);
      for (const action of JOB_ACTIONS) {
        routes.post(`/:id/${action}`, { bodyLimit: MAX_ACTION_BODY_BYTES }, handler);
      }
    },
    { prefix },
  );

  fastify.decorate('realtimeJobs', {
    get prefix() {
      return mounted;
    },
    get openStreams() {
      return endpoint.openStreams;
    },
    closeStreams: (...args: [principalId?: string]) => endpoint.closeStreams(...args),
    listPage: (request: FastifyRequest, query?: URLSearchParams | string) =>
      endpoint.listPage(request, query ?? queryOf(request.url)),
  } satisfies RealtimeJobs);
  // Open streams would keep `app.close()` waiting for their connections.
  fastify.addHook('preClose', async () => endpoint.closeStreams());
};

/**
 * The job routes (`GET {prefix}`, `GET {prefix}/events`, `GET {prefix}/{id}`, `GET {prefix}/{id}/detail`,
 * `POST {prefix}/{id}/cancel|retry|approve|reject`) as a Fastify 5 plugin.
 * Options are checked when it is registered: a missing `registry` or `authorize` fails `register`.
 *
 * @example
 * await app.register(jobsPlugin, { registry: jobs, prefix: '/api/admin/jobs', authorize });
 */
export const jobsPlugin = fp(plugin, { fastify: '5.x', name: 'realtime-jobs' });
