import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import { Eta } from 'eta';
import express from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { isBusy, isJobsError } from 'realtime-jobs';
import { jobsRouter } from 'realtime-jobs/express';
import { listQueryString, readJobListQuery, renderJobList, renderJobListStyles } from 'realtime-jobs/html';
import { authenticate } from './accounts.js';
import { createCsrf } from './csrf.js';
import { checkKey, DEDALUS_TARGET } from './dedalus.js';
import { loginThrottle } from './login-throttle.js';
import { activity, dedalusRuns } from './logs.js';
import { SqliteSessionStore } from './session-store.js';
import { SYNC_CATEGORIES } from './sync.js';
import { stateBadge, tile, tileStyles } from './tiles.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
/** Jobs per page of the job history. */
const JOBS_PER_PAGE = 25;

/** A browser bundle, resolved through the package's public export (built by `npx tsup`). */
function bundlePath(name) {
  const path = fileURLToPath(import.meta.resolve(`realtime-jobs/${name}`));
  return existsSync(path) ? path : null;
}
/**
 * The two bundles: a page loads one, never both (each holds the feed: two would open two connections).
 * The job history loads the list bundle, which holds everything the other does plus `<job-list>`.
 */
const BUNDLES = { '/assets/realtime-jobs.js': 'browser.js', '/assets/realtime-jobs-list.js': 'browser-list.js' };

class HttpError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

/**
 * The admin app of one instance: pages, forms, the job API and the peer API.
 * Pages are rendered on the server and work without JavaScript; `public/app.js` upgrades the forms.
 * `dedalusStandIn`: the local Dedalus stand-in the calls go to (its URL and the keys it accepts), or
 * null for the real service.
 *
 * @param {{ config: any, db: any, settings: any, jobs: any, sync: any, dedalus: any, dedalusStandIn?: { url: string, keys: string[] } | null }} options
 */
export function createApp({ config, db, settings, jobs, sync, dedalus, dedalusStandIn = null }) {
  const app = express();
  // TRUST_PROXY: the proxies whose X-Forwarded-For and X-Forwarded-Proto count (req.ip, req.secure),
  // so behind an HTTPS proxy the Secure cookies are set and the login throttle sees the client.
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  const eta = new Eta({ views: here('../views'), cache: true, autoEscape: true });
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
  app.use('/assets', express.static(here('../public'), { maxAge: '1h' }));
  for (const [url, name] of Object.entries(BUNDLES)) {
    const path = bundlePath(name);
    app.get(url, (_req, res) => {
      if (!path) return res.status(404).type('text/plain').send('The browser bundle is not built: run npx tsup');
      res.sendFile(path);
    });
  }
  // Browsers ask for /favicon.ico whatever the page links to (a feed reader, a bookmark): the same icon.
  app.get('/favicon.ico', (_req, res) =>
    res.type('image/svg+xml').set('cache-control', 'public, max-age=86400').sendFile(here('../public/favicon.svg')),
  );

  // The peer API: machine to machine, authenticated per call by the pair's key, no session or CSRF.
  app.use('/sync/api', sync.peerApi());

  const store = new SqliteSessionStore(db);
  app.locals.sessionStore = store;
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
  const authorize = (req) => {
    const who = req.session?.user;
    if (!who || !store.exists(req.sessionID)) return null;
    return { id: who.username, scopes: who.role === 'admin' ? ['admin'] : [] };
  };
  // Its actions (cancel, retry, approve, reject): admins may take every one, but for cancelling a sync
  // job that holds a bundle for approval: Reject discards that bundle (the definition's onReject), a
  // cancel would leave it behind. Viewers hold no scope, so the routes answer them 403 before this
  // is asked: they may do nothing here.
  const authorizeAction = (principal, action, job) =>
    principal?.scopes.includes('admin') === true &&
    !(action === 'cancel' && job.state === 'pending' && SYNC_CATEGORIES.includes(job.category));
  const jobsApi = jobsRouter(jobs, { authorize, authorizeAction });
  // Mounted before the app's CSRF check: the actions carry the library's same-origin proof instead
  // (`X-Realtime-Jobs: 1`, or the browser's `Sec-Fetch-Site: same-origin`), and the router answers
  // only GET, HEAD and those four POSTs; anything else under the path falls through to the app.
  app.use('/api/admin/jobs', jobsApi);

  app.use(cookieParser(secret));
  app.use(express.urlencoded({ extended: false, limit: '32kb' }));

  // Tokens only where a form is rendered, bound to the login session or, logged out, to a
  // pre-session cookie: nothing is stored until someone logs in (see csrf.js).
  const csrf = createCsrf({ secret, cookieSuffix, secure: config.cookieSecure });
  const user = (req) => req.session.user ?? null;
  // Before the CSRF check, so that its 403 page knows who is asking too.
  app.use((req, res, next) => {
    res.locals.user = user(req);
    res.locals.instance = config.name;
    res.locals.peers = config.peers;
    res.locals.flash = req.session.flash ?? null;
    // When this request came in, before anything was read: `public/app.js` takes a job that has not
    // changed since as already shown on the page (no fragment refresh for the feed's first snapshot).
    res.locals.renderedAt = new Date().toISOString();
    delete req.session.flash;
    next();
  });
  app.use(csrf.protect);

  /**
   * A whole page. It carries a form, and so a CSRF token, when someone is logged in (the header's
   * Log out) or when it is the login page; a logged-out error page has none and sets no cookie.
   */
  const render = (req, res, view, data = {}, status = 200) => {
    const hasForm = Boolean(res.locals.user) || view === 'login';
    const csrfToken = hasForm ? csrf.formToken(req, res) : null;
    res
      .status(status)
      .type('html')
      .send(eta.render(view, { ...res.locals, csrfToken, ...data, tile, tileStyles, stateBadge }));
  };
  /** A fragment that `public/app.js` fetches into a page: its forms take the page's own token. */
  const renderFragment = (req, res, view, data = {}) => {
    res
      .type('html')
      .send(eta.render(view, { ...res.locals, csrfToken: csrf.pageToken(req), ...data, tile, tileStyles, stateBadge }));
  };
  const wantsJson = (req) => (req.get('accept') ?? '').includes('application/json');
  // A browser says `Sec-Fetch-Mode: navigate` when a person opens a page; fetch, EventSource and the
  // like send another mode. Without the header (an older client) a request counts as a navigation.
  const navigating = (req) => (req.get('sec-fetch-mode') ?? 'navigate') === 'navigate';
  /** Whether an answer may be a page; anything else gets JSON, never a page that would set cookies. */
  const wantsPage = (req) => !wantsJson(req) && navigating(req) && !req.originalUrl.startsWith('/api/');
  const back = (req, res, path, flash) => {
    if (flash) req.session.flash = flash;
    res.redirect(303, path);
  };
  /**
   * A form with wrong values: for fetch the first problem as JSON (with its field), for a page the
   * form again, `page(status, errors)`, each problem next to its field and the typed values kept.
   */
  const refuseForm = (req, status, errors, page) => {
    const [field, message] = Object.entries(errors)[0];
    if (!wantsPage(req)) throw new HttpError(status, message, field);
    page(status, errors);
  };
  /**
   * A started (or found) job: 202 with the job for fetch; for a plain form 303 back to the page, with
   * a line saying what happened, since without JavaScript nothing else on the page says it.
   * `asked` is when the request came in: a job queued before it was already under way (the same
   * push twice, a double click), and the run answered that one.
   */
  const started = (req, res, job, path, what, asked) => {
    if (wantsJson(req)) return res.status(202).json({ job });
    const found = Date.parse(job.queuedAt) < asked;
    back(req, res, path, found ? `${what} was already under way: the page follows it.` : `${what} started.`);
  };

  // --- accounts -------------------------------------------------------------------------------
  app.get('/login', (req, res) => {
    if (user(req)) return res.redirect(303, home(user(req)));
    render(req, res, 'login', { next: safeNext(req.query.next), error: null, username: '' });
  });
  const throttle = loginThrottle(db, config.login);
  const loginPage = (req, res, status, error, username = '') =>
    render(req, res, 'login', { next: safeNext(req.body?.next), error, username }, status);
  app.post('/login', async (req, res, next) => {
    const { username, password } = req.body ?? {};
    const name = typeof username === 'string' ? username : '';
    // Behind a proxy this is the client's address (TRUST_PROXY). Undefined when the connection closed
    // before it was read: nobody is there to answer, and no guess is checked that could not be counted.
    const address = req.ip;
    if (address === undefined) return res.status(400).end();
    const waitMs = throttle.waitMs(name, address);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      res.set('Retry-After', String(seconds));
      const unit = seconds === 1 ? 'second' : 'seconds';
      return loginPage(req, res, 429, `Too many wrong passwords from here: try again in ${seconds} ${unit}.`, name);
    }
    const found = await authenticate(db, username, password);
    if (!found) {
      throttle.failed(name, address);
      return loginPage(req, res, 401, 'Wrong username or password.', name);
    }
    throttle.succeeded(name, address);
    // A new session id on login: a session fixed before login is worth nothing after it.
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.user = found;
      req.session.save((saveError) =>
        saveError ? next(saveError) : res.redirect(303, safeNext(req.body?.next) || home(found)),
      );
    });
  });
  app.post('/logout', (req, res, next) => {
    const who = user(req);
    req.session.destroy((error) => {
      if (error) return next(error);
      // A stream holds the session as it was loaded when it connected: end this user's streams now
      // (each gets a final `denied` event) rather than at the next re-check of `authorize`.
      if (who) jobsApi.closeStreams(who.username);
      res.redirect(303, '/login');
    });
  });
  app.get('/', (req, res) => res.redirect(303, user(req) ? home(user(req)) : '/login'));
  app.get('/account', (req, res) => {
    if (!user(req)) return res.redirect(303, '/login?next=/account');
    render(req, res, 'account');
  });

  // --- admin pages ------------------------------------------------------------------------------
  app.use('/admin', (req, res, next) => {
    const who = user(req);
    if (!who) {
      // Only a person opening a page is sent to the login form. A page's own fetch (a fragment it
      // refreshes, a form it posts) gets 401: a page that was just logged out may still send one, and
      // following it to the login form would hand out a token under the form another tab shows.
      if (!wantsPage(req) || req.method !== 'GET') throw new HttpError(401, 'Log in first');
      return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
    }
    if (who.role !== 'admin') throw new HttpError(403, 'This page is for administrators.');
    next();
  });

  const latest = (category, target) => jobs.list({ category: [category], target, limit: 1 })[0] ?? null;
  const busy = (job) => job !== null && isBusy(job.state);
  /**
   * Whether work is going on (queued or running): a page without JavaScript reloads itself meanwhile
   * (layout.eta's `<noscript>` refresh) and stops once it ends. A job waiting for approval is busy
   * too, but waits for a person, maybe for days: the page does not reload for that.
   */
  const working = (...list) => list.some((job) => job !== null && (job.state === 'queued' || job.state === 'running'));
  const peerOf = (req) => {
    const peer = sync.peer(req.params.peer);
    if (!peer) throw new HttpError(404, `No peer named ${JSON.stringify(req.params.peer)}`, 'peer');
    return peer;
  };

  const syncLive = () => ({
    waiting: jobs.list({ category: SYNC_CATEGORIES, state: ['pending'], limit: 20 }),
    activity: activity(db, 15),
  });
  const syncSummary = () => ({ records: sync.count(), signing: sync.signing() });

  app.get('/admin/sync-control', (req, res) => {
    const cards = config.peers.map((peer) => {
      const target = { peer: peer.name };
      const push = latest('sync-push', target);
      const pull = latest('sync-pull', target);
      return { peer, push, pull, pushBusy: busy(push), pullBusy: busy(pull) };
    });
    const refresh = working(...cards.flatMap((card) => [card.push, card.pull]));
    render(req, res, 'sync-control', { cards, refresh, ...syncSummary(), ...syncLive() });
  });
  app.get('/admin/sync-control/live', (req, res) => renderFragment(req, res, 'sync-live', syncLive()));
  // The page's first line: how many records this instance holds, which a pull (or its approval) changes.
  app.get('/admin/sync-control/summary', (req, res) => renderFragment(req, res, 'sync-summary', syncSummary()));

  // While a job with the same key is busy (a job held for approval too, across restarts and replicas),
  // `run` answers that job. A push is keyed by the bundle it sends (sync.pushKey); a pull asks for
  // whatever the peer holds, so one busy pull per peer answers for all.
  app.post('/admin/sync-control/:peer/push', async (req, res) => {
    const asked = Date.now();
    const peer = peerOf(req);
    // "allow unsigned" is the pull's, whatever the form posts: what a push sends unsigned, the peer
    // holds for approval (the input keeps the field, always false, as sync's SyncInput has it).
    const job = await jobs.run('sync-push', { peer: peer.name, allowUnsigned: false }, { key: sync.pushKey(false) });
    started(req, res, job, '/admin/sync-control', `Push to ${peer.name}`, asked);
  });
  app.post('/admin/sync-control/:peer/pull', async (req, res) => {
    const asked = Date.now();
    const peer = peerOf(req);
    const allowUnsigned = req.body?.allow_unsigned === 'on';
    const job = await jobs.run('sync-pull', { peer: peer.name, allowUnsigned }, { key: 'sync' });
    started(req, res, job, '/admin/sync-control', `Pull from ${peer.name}`, asked);
  });

  const recordsPage = (req, res, status = 200, form = { values: { title: '', body: '' }, errors: {} }) =>
    render(
      req,
      res,
      'records',
      { records: sync.records().slice(0, 100), count: sync.count(), signing: sync.signing(), ...form },
      status,
    );
  app.get('/admin/records', (req, res) => recordsPage(req, res));
  app.post('/admin/records', (req, res) => {
    const values = { title: String(req.body?.title ?? ''), body: String(req.body?.body ?? '') };
    const title = values.title.trim();
    const body = values.body.trim();
    const errors = recordProblems(title, body);
    if (errors) return refuseForm(req, 400, errors, (status) => recordsPage(req, res, status, { values, errors }));
    sync.addRecord(title, body || '(no text)');
    back(req, res, '/admin/records', `Added "${title}".`);
  });
  app.post('/admin/records/signing', (req, res) => {
    const on = req.body?.sign === 'on';
    sync.setSigning(on);
    back(req, res, '/admin/records', on ? 'Outgoing bundles are signed.' : 'Outgoing bundles are now sent UNSIGNED.');
  });

  /** The Connection card's form: Verify needs a saved key, and is disabled (saying so) without one. */
  const verifyForm = () => {
    const verify = latest('dedalus-verify', DEDALUS_TARGET);
    return { settings: dedalus.state(), verify, verifyBusy: busy(verify) };
  };
  const dedalusPage = (req, res, status = 200, errors = {}) => {
    const save = latest('dedalus-save', DEDALUS_TARGET);
    // Under `npm start` the calls go to a local stand-in (server.ts says so): the page names it and
    // gives its demo key, which is no secret.
    const standIn = dedalusStandIn ? { key: dedalusStandIn.keys[0] ?? null } : null;
    const page = { baseURL: dedalus.baseURL, standIn, errors, save, saveBusy: busy(save), ...verifyForm() };
    render(req, res, 'dedalus', { ...page, refresh: working(save, page.verify) }, status);
  };
  app.get('/admin/dedalus', (req, res) => dedalusPage(req, res));
  app.get('/admin/dedalus/key-state', (req, res) =>
    renderFragment(req, res, 'dedalus-key', { settings: dedalus.state() }),
  );
  app.get('/admin/dedalus/verify-form', (req, res) => renderFragment(req, res, 'dedalus-verify', verifyForm()));
  app.post('/admin/dedalus/key', async (req, res) => {
    const apiKey = typeof req.body?.api_key === 'string' ? req.body.api_key.trim() : '';
    // The page shows the problem, never the key: the field comes back empty.
    const refuse = (status, message) =>
      refuseForm(req, status, { api_key: message }, (code, errors) => dedalusPage(req, res, code, errors));
    const problem = checkKey(apiKey);
    if (problem) return refuse(400, problem);
    // The key is stored here and the job verifies it: a job's input is shown by the job API and kept
    // in its log, no place for a secret. One save at a time, so a job never verifies another's key.
    const asked = Date.now();
    if (busy(latest('dedalus-save', DEDALUS_TARGET))) {
      return refuse(409, 'A key is being saved and verified: wait for it to finish');
    }
    const maskedKey = dedalus.store(apiKey);
    const job = await jobs.run('dedalus-save', { maskedKey }, { key: 'default' });
    started(req, res, job, '/admin/dedalus', `Saved. The check of the key ${maskedKey}`, asked);
  });
  app.post('/admin/dedalus/key/clear', (req, res) => {
    dedalus.clear();
    back(req, res, '/admin/dedalus', 'The API key was removed.');
  });
  app.post('/admin/dedalus/verify', async (req, res) => {
    const asked = Date.now();
    const job = await jobs.run('dedalus-verify', {}, { key: 'default' });
    started(req, res, job, '/admin/dedalus', 'Connection check', asked);
  });
  app.get('/admin/dedalus/logs', (req, res) => render(req, res, 'dedalus-logs', { runs: dedalusRuns(db) }));

  // The job history: the library's <job-list>, rendered here from what its list route answers this
  // user (jobs, next page, permissions from authorizeAction), hydrated by the list bundle. Its
  // actions and details go to the job routes: the app has no route of its own for them.
  const jobListStyles = renderJobListStyles();
  app.get('/admin/jobs', async (req, res) => {
    let query;
    let page;
    try {
      query = readJobListQuery(new URL(req.originalUrl, 'http://x').searchParams, { targetField: 'peer' });
      query.limit ??= JOBS_PER_PAGE;
      page = await jobsApi.listPage(req, listQueryString(query));
    } catch (error) {
      // A parameter the list cannot take (400, naming it), or the login's refusal.
      if (!isJobsError(error)) throw error;
      throw new HttpError(error.status ?? 400, error.message, error.field);
    }
    const list = renderJobList(page.jobs, {
      ...query,
      targetField: 'peer',
      label: 'Jobs, newest first',
      next: page.next,
      permissions: page.permissions,
      styles: false,
    });
    const refresh = working(...page.jobs);
    render(req, res, 'jobs', { list, jobListStyles, bundle: '/assets/realtime-jobs-list.js', refresh });
  });

  // --- errors -----------------------------------------------------------------------------------
  app.use((_req, _res, next) => next(new HttpError(404, 'Not found')));
  // express-session saves a changed session as the answer ends (a flash read, say) and passes a
  // failed save on (a full disk) after the answer went out: to this handler, or past it to Express's
  // final handler when the answer was this handler's own page. Nothing is left to answer then, only
  // to say in one line what was not saved.
  const afterAnswer = (req, error) =>
    console.error(`[${config.name}] after answering ${req.method} ${req.originalUrl}: ${error.message}`);
  const handle = app.handle.bind(app);
  app.handle = (req, res, done) =>
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
  app.use((error, req, res, _next) => {
    if (res.headersSent) return afterAnswer(req, error);
    const { status, heading, message } = describeError(error);
    if (status === 503) console.error(`[${config.name}] ${req.method} ${req.originalUrl}: ${error.message}`);
    else if (status >= 500) console.error(`[${config.name}]`, error);
    if (!wantsPage(req)) {
      const code = ERROR_CODES[status] ?? 'internal_error';
      return res.status(status).json({ error: { code, message, ...(error.field ? { field: error.field } : {}) } });
    }
    render(req, res, 'error', { status, heading, message }, status);
  });
  return app;
}

const ERROR_CODES = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  503: 'unavailable',
};
const HEADINGS = { 401: 'Log in first', 403: 'Forbidden', 404: 'Not found' };

/** What an error tells the person who met it: a status, a heading and a message (never a stack). */
function describeError(error) {
  // SQLite (SQLITE_FULL) or the file system (ENOSPC): nothing was written, and nothing else is wrong.
  if (error.code === 'SQLITE_FULL' || error.code === 'ENOSPC') {
    return {
      status: 503,
      heading: 'Disk full',
      message:
        'The server’s disk is full, so nothing was saved. Free some space on the server, then send the form again.',
    };
  }
  if (error.code === 'EBADCSRFTOKEN') {
    return {
      status: 403,
      heading: HEADINGS[403],
      message: 'The form expired or did not come from this site (invalid CSRF token). Reload the page and try again.',
    };
  }
  const status = error.status ?? error.statusCode ?? 500;
  if (status >= 500) return { status, heading: 'Error', message: 'Something went wrong on the server.' };
  return { status, heading: HEADINGS[status] ?? 'Error', message: error.message };
}

function home(user) {
  return user.role === 'admin' ? '/admin/sync-control' : '/account';
}

/** Only a local path: `next=//evil.example` or `next=https://…` would be an open redirect. */
function safeNext(value) {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '';
}

/** What is wrong with a new record, by field, or null. */
function recordProblems(title, body) {
  const errors = {};
  if (title === '') errors.title = 'Enter a title.';
  else if (title.length > 200) errors.title = `A title has at most 200 characters; this one has ${title.length}.`;
  if (body.length > 2000) errors.body = `The text has at most 2000 characters; this one has ${body.length}.`;
  return Object.keys(errors).length > 0 ? errors : null;
}
