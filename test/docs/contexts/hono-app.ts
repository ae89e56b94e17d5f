// The Hono example's app and handler (docs/adapters/fetch.md#hono), and your session library.
import type { Context, Hono } from 'hono';
import type { JobsHandler } from 'realtime-jobs';

type Env = { Variables: { user: { name: string } | undefined } };
declare const app: Hono<Env>;
declare const handle: JobsHandler<Context<Env>>;
declare function destroySession(c: Context<Env>): Promise<void>;
