// Shutdown: an Express or node:http server, a Fastify app, and the registry.
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { JobRegistry } from 'realtime-jobs';

declare const server: Server;
declare const app: FastifyInstance;
declare const jobs: JobRegistry;
