import type { Express } from 'express';
import type { JobRegistry } from 'realtime-jobs';
import type { JobsRouter } from 'realtime-jobs/express';
import type { Config } from '../config.js';
import type { Db, Settings } from '../db.js';
import type { DedalusService } from '../dedalus.js';
import type { Sync } from '../sync/index.js';
import type { Render } from './render.js';

/** The local Dedalus stand-in the calls go to: its URL and the keys it accepts. */
export interface DedalusStandIn {
  url: string;
  keys: readonly string[];
}

/** What `createApp` is given: the instance's parts, made by `server.ts`. */
export interface AppOptions {
  config: Config;
  db: Db;
  settings: Settings;
  jobs: JobRegistry;
  sync: Sync;
  dedalus: DedalusService;
  /** The stand-in the Dedalus calls go to, or null (the default) for the real service. */
  dedalusStandIn?: DedalusStandIn | null;
}

/** What each area's routes are given: the instance's parts, the job API and the renderers. */
export interface RouteContext extends Omit<AppOptions, 'dedalusStandIn' | 'settings'>, Render {
  app: Express;
  dedalusStandIn: DedalusStandIn | null;
  /** The job API's router (its streams, and the list the job history renders). */
  jobsApi: JobsRouter;
}
