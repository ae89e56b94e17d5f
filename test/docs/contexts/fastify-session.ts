// Fastify with @fastify/session registered, holding a `user` in the session, and the jobs plugin.
import '@fastify/session';
import type { FastifyInstance } from 'fastify';
import 'realtime-jobs/fastify';

declare module 'fastify' {
  interface Session {
    user: { name: string };
  }
}

declare const app: FastifyInstance;
