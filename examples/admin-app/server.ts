// One instance of the reference admin app. `npm start` runs two of these (see start.ts); run one alone
// with `npm run build`, then `node examples/admin-app/build/server.js` and the environment described
// in docs/reference-app.md.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createJobRegistry, type JobStore } from 'realtime-jobs';
import { jsonlStore } from 'realtime-jobs/jsonl';
import { ensureAccounts } from './lib/accounts.js';
import { createApp } from './lib/app/index.js';
import { type Config, readConfig } from './lib/config.js';
import { openDatabase, settings as settingsOf } from './lib/db.js';
import { createDedalus } from './lib/dedalus.js';
import { startDedalusStandIn } from './lib/dedalus-standin.js';
import { defineJobs } from './lib/definitions.js';
import { recordLogs } from './lib/logs.js';
import { createSync } from './lib/sync/index.js';

/**
 * The embedded JSONL log (one process per peer: its lock refuses a second), or with `REDIS_URL` the
 * Redis store, shared by every replica of this peer. Imported only when used: `npm start` needs no Redis.
 */
async function jobStore(config: Config): Promise<JobStore> {
  if (!config.redisUrl) return jsonlStore({ path: join(config.dataDir, 'jobs.jsonl') });
  const { redisStore } = await import('realtime-jobs/redis');
  return redisStore({ url: config.redisUrl, prefix: config.name, leaseMs: config.leaseMs });
}

export interface RunningInstance {
  url: string;
  config: Config;
  standInUrl: string | null;
  generatedPasswords: Awaited<ReturnType<typeof ensureAccounts>>;
  close(): Promise<void>;
}

/** Starts one instance and resolves once it listens. */
export async function startInstance(config: Config = readConfig()): Promise<RunningInstance> {
  const db = openDatabase(join(config.dataDir, 'app.db'));
  const settings = settingsOf(db);
  const generatedPasswords = await ensureAccounts(db, config.passwords);
  const jobs = await createJobRegistry({
    store: await jobStore(config),
    onError: (error) => console.error(`[${config.name}] realtime-jobs: ${error.message}`),
  });
  const stopLogs = recordLogs(db, jobs);
  const sync = createSync({
    db,
    name: config.name,
    peers: config.peers,
    secret: config.syncSecret,
    paceMs: config.paceMs,
    peerTimeoutMs: config.peerTimeoutMs,
    signByDefault: config.signByDefault,
    settings,
  });
  sync.seed(config.seedRecords);
  const standIn = config.dedalusBaseUrl ? null : await startDedalusStandIn({ keys: config.standInKeys });
  const dedalus = createDedalus({ settings, baseURL: config.dedalusBaseUrl ?? standIn?.url ?? '' });
  // Before any request: a job held for approval from before a restart is approved through its definition.
  defineJobs(jobs, { sync, dedalus });
  // A stand-in, our own or the one `npm start` runs for both instances (it says so with
  // DEDALUS_STANDIN=1): the Dedalus page names it and shows its demo key.
  const dedalusStandIn =
    standIn || process.env.DEDALUS_STANDIN === '1' ? { url: dedalus.baseURL, keys: config.standInKeys } : null;
  const app = createApp({ config, db, settings, jobs, sync, dedalus, dedalusStandIn });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(config.port, config.host, (error) => (error ? reject(error) : resolve(listening)));
  });
  const url = `http://${config.host}:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | null = null;
  return {
    url,
    config,
    standInUrl: standIn?.url ?? null,
    generatedPasswords,
    close() {
      closing ??= (async () => {
        server.close();
        // registry.close() ends the job streams and finishes running work as "shut down".
        await jobs.close();
        server.closeAllConnections();
        stopLogs();
        app.sessionStore.close();
        db.close();
        await standIn?.close();
      })();
      return closing;
    },
  };
}

/** The configuration, or the process ends saying which setting is wrong and why (no stack trace). */
function configOrExit(): Config {
  try {
    return readConfig();
  } catch (error) {
    console.error(`Cannot start: ${(error as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const instance = await startInstance(configOrExit());
  console.log(`[${instance.config.name}] listening on ${instance.url}`);
  if (instance.standInUrl) {
    const key = instance.config.standInKeys[0];
    console.log(`[${instance.config.name}] Dedalus stand-in on ${instance.standInUrl} (a valid key is ${key})`);
  }
  for (const [user, password] of Object.entries(instance.generatedPasswords)) {
    console.log(`[${instance.config.name}] generated password for ${user}: ${password} (shown once)`);
  }
  if (process.send) process.send({ ready: instance.url });
  const stop = async () => {
    await instance.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
