import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import { Eta } from 'eta';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import type { Principal } from 'realtime-jobs';
import { jobsRouter } from 'realtime-jobs/express';
import { createCsrf } from '../csrf.js';
import { appPath } from '../paths.js';
import { SqliteSessionStore } from '../session-store.js';
import { SYNC_CATEGORIES } from '../sync/index.js';
import { accountRoutes, adminOnly, currentUser } from './account-routes.js';
import type { AppOptions } from './context.js';
import { dedalusRoutes } from './dedalus-routes.js';
import { describeError, ERROR_CODES, errorFields, HttpError, messageOf } from './errors.js';
import { jobsRoutes } from './jobs-routes.js';
import { recordsRoutes } from './records-routes.js';
import { createRender, wantsPage } from './render.js';
import { syncRoutes } from './sync-routes.js';

export type { AppOptions, DedalusStandIn } from './context.js';

/** The app, with the session store it made: whoever closes the instance stops the store's sweep timer. */
export type App = Express & { sessionStore: SqliteSessionStore };

/** A browser bundle, resolved through the package's public export (built by `npx tsup`). */
function bundlePath(name: string): string | null {
  const path = fileURLToPath(import.meta.resolve(`realtime-jobs/${name}`));
  return existsSync(path) ? path : null;
}
/**
 * The two bundles: a page loads one, never both (each holds the feed: two would open two connections).
 * The job history loads the list bundle, which holds everything the other does plus `<job-list>`.
 */
const BUNDLES = { '/assets/realtime-jobs.js': 'browser.js', '/assets/realtime-jobs-list.js': 'browser-list.js' };

/** Express's own `app.handle(req, res, done)`, which runs a request through the app; its types leave it out. */
type Handle = (req: Request, res: Response, done?: (error?: unknown) => void) => void;

/**
 * The admin app of one instance: pages, forms, the job API and the peer API.
 * Pages are rendered on the server and work without JavaScript; `browser/app.ts` upgrades the forms.
 * The routes are by area, in this folder: `account-routes.ts` (login, logout, account),
 * `sync-routes.ts`, `records-routes.ts`, `dedalus-routes.ts` and `jobs-routes.ts` (the job history);
 * `render.ts` renders pages and answers forms, `errors.ts` turns errors into pages or JSON.
 */
export function createApp({ config, db, settings, jobs, sync, dedalus, dedalusStandIn = null }: AppOptions): App {
  const app = express();
  // TRUST_PROXY: the proxies whose X-Forwarded-For and X-Forwarded-Proto count (req.ip, req.secure),
  // so behind an HTTPS proxy the Secure cookies are set and the login throttle sees the client.
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  const eta = new Eta({ views: appPath('views'), cache: true, autoEscape: true });
  // One secret per peer, in its database: replicas sharing the file sign and read each other's cookies.
  const secret = settings.init('app_secret', randomBytes(32).toString('base64url'));
  // Cookies are scoped by host, not port: both local instances share 127.0.0.1, so names carry the instance.
  const cookieSuffix = config.name.replace(/[^a-z0-9]/g, '_');

  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'script-src': ["'self'"],
          'connect-src': ["'self'"],
          // Plain http on loopback must stay http: only ask for https when cookies are Secure.
          'upgrade-insecure-requests': config.cookieSecure ? [] : null,
        },
      },
      strictTransportSecurity: config.cookieSecure,
    }),
  );
  app.use('/assets', express.static(appPath('public'), { maxAge: '1h' }));
  // The browser script, compiled from browser/app.ts by `npm run build`.
  app.use('/assets', express.static(appPath('build/assets'), { maxAge: '1h' }));
  for (const [url, name] of Object.entries(BUNDLES)) {
    const path = bundlePath(name);
    app.get(url, (_req, res) => {
      if (path) res.sendFile(path);
      else res.status(404).type('text/plain').send('The browser bundle is not built: run npx tsup');
    });
  }
  // Browsers ask for /favicon.ico whatever the page links to (a feed reader, a bookmark): the same icon.
  app.get('/favicon.ico', (_req, res) =>
    res.type('image/svg+xml').set('cache-control', 'public, max-age=86400').sendFile(appPath('public/favicon.svg')),
  );

  // The peer API: machine to machine, authenticated per call by the pair's key, no session or CSRF.
  app.use('/sync/api', sync.peerApi());

  const store = new SqliteSessionStore(db);
  app.use(
    session({
      name: `sid_${cookieSuffix}`,
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { httpOnly: true, sameSite: 'lax', secure: config.cookieSecure, maxAge: 8 * 60 * 60 * 1000 },
    }),
  );

  // The job API: 401 logged out, 403 without the admin scope. Made here so logout can end its streams.
  // A stream keeps the session it loaded when it connected, so the re-checks (every `reauthorizeMs`)
  // also ask the store: a logout on another replica of this peer ends this replica's streams too.
  const authorize = (req: Request): Principal | null => {
    const who = req.session?.user;
    if (!who || !store.exists(req.sessionID)) return null;
    return { id: who.username, scopes: who.role === 'admin' ? ['admin'] : [] };
  };
  const jobsApi = jobsRouter(jobs, {
    authorize,
    // Its actions (cancel, retry, approve, reject): admins may take every one, but for cancelling a
    // sync job that holds a bundle for approval: Reject discards that bundle (the definition's
    // onReject), a cancel would leave it behind. Viewers hold no scope, so the routes answer them 403
    // before this is asked: they may do nothing here.
    authorizeAction: (principal, action, job) =>
      principal?.scopes.includes('admin') === true &&
      !(action === 'cancel' && job.state === 'pending' && SYNC_CATEGORIES.includes(job.category)),
  });
  // Mounted before the app's CSRF check: the actions carry the library's same-origin proof instead
  // (`X-Realtime-Jobs: 1`, or the browser's `Sec-Fetch-Site: same-origin`), and the router answers
  // only GET, HEAD and those four POSTs; anything else under the path falls through to the app.
  app.use('/api/admin/jobs', jobsApi);

  app.use(cookieParser(secret));
  app.use(express.urlencoded({ extended: false, limit: '32kb' }));

  // Tokens only where a form is rendered, bound to the login session or, logged out, to a
  // pre-session cookie: nothing is stored until someone logs in (see csrf.ts).
  const csrf = createCsrf({ secret, cookieSuffix, secure: config.cookieSecure });
  // Before the CSRF check, so that its 403 page knows who is asking too.
  app.use((req, res, next) => {
    res.locals.user = currentUser(req);
    res.locals.instance = config.name;
    res.locals.peers = config.peers;
    res.locals.flash = req.session.flash ?? null;
    // When this request came in, before anything was read: `browser/app.ts` takes a job that has not
    // changed since as already shown on the page (no fragment refresh for the feed's first snapshot).
    res.locals.renderedAt = new Date().toISOString();
    delete req.session.flash;
    next();
  });
  app.use(csrf.protect);

  const { render, renderFragment } = createRender({ eta, csrf });
  const context = { app, config, db, jobs, sync, dedalus, dedalusStandIn, jobsApi, render, renderFragment };
  accountRoutes(context);
  app.use('/admin', adminOnly);
  syncRoutes(context);
  recordsRoutes(context);
  dedalusRoutes(context);
  jobsRoutes(context);

  // --- errors -----------------------------------------------------------------------------------
  app.use((_req, _res, next) => next(new HttpError(404, 'Not found')));
  // express-session saves a changed session as the answer ends (a flash read, say) and passes a
  // failed save on (a full disk) after the answer went out: to this handler, or past it to Express's
  // final handler when the answer was this handler's own page. Nothing is left to answer then, only
  // to say in one line what was not saved.
  const afterAnswer = (req: Request, error: unknown) =>
    console.error(`[${config.name}] after answering ${req.method} ${req.originalUrl}: ${messageOf(error)}`);
  // Express has `handle` on every app; its types do not declare it.
  const withHandle = app as unknown as { handle: Handle };
  const handle = withHandle.handle.bind(app);
  withHandle.handle = (req, res, done) =>
    handle(
      req,
      res,
      done ??
        ((error) => {
          if (error && res.headersSent) return afterAnswer(req, error);
          if (error) console.error(`[${config.name}]`, error);
          if (!res.headersSent) res.status(error ? 500 : 404).end();
        }),
    );
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return afterAnswer(req, error);
    const { status, heading, message } = describeError(error);
    if (status === 503) console.error(`[${config.name}] ${req.method} ${req.originalUrl}: ${messageOf(error)}`);
    else if (status >= 500) console.error(`[${config.name}]`, error);
    if (!wantsPage(req)) {
      const code = ERROR_CODES[status] ?? 'internal_error';
      const { field } = errorFields(error);
      res.status(status).json({ error: { code, message, ...(field ? { field } : {}) } });
      return;
    }
    render(req, res, 'error', { status, heading, message }, status);
  });
  return Object.assign(app, { sessionStore: store });
}
