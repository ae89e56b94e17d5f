// Fastify fragments continue "Register it" (docs/adapters/fastify.md): its app, registry and authorize.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { JobRegistry, Principal } from 'realtime-jobs';
import { jobsPlugin } from 'realtime-jobs/fastify';

declare const app: FastifyInstance;
declare const jobs: JobRegistry;
declare function authorize(request: FastifyRequest): Principal | null;
/** The request of the route a fragment runs in. */
declare const request: FastifyRequest;
