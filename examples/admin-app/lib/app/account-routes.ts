import type { NextFunction, Request, Response } from 'express';
import { authenticate, type User } from '../accounts.js';
import { loginThrottle } from '../login-throttle.js';
import type { RouteContext } from './context.js';
import { HttpError } from './errors.js';
import { formField, wantsPage } from './render.js';

/** Who is logged in, or null. */
export const currentUser = (req: Request): User | null => req.session.user ?? null;

/** Where a user lands after logging in: admins on the sync control page, viewers on their account. */
function home(user: User): string {
  return user.role === 'admin' ? '/admin/sync-control' : '/account';
}

/** Only a local path: `next=//evil.example` or `next=https://…` would be an open redirect. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '';
}

/** Logging in and out, and the pages anyone logged in may see. */
export function accountRoutes({ app, config, db, jobsApi, render }: RouteContext): void {
  app.get('/login', (req, res) => {
    const who = currentUser(req);
    if (who) return res.redirect(303, home(who));
    render(req, res, 'login', { next: safeNext(req.query.next), error: null, username: '' });
  });
  const throttle = loginThrottle(db, config.login);
  const loginPage = (req: Request, res: Response, status: number, error: string, username = '') =>
    render(req, res, 'login', { next: safeNext(formField(req, 'next')), error, username }, status);
  app.post('/login', async (req, res, next) => {
    const username = formField(req, 'username');
    const password = formField(req, 'password');
    const name = typeof username === 'string' ? username : '';
    // Behind a proxy this is the client's address (TRUST_PROXY). Undefined when the connection closed
    // before it was read: nobody is there to answer, and no guess is checked that could not be counted.
    const address = req.ip;
    if (address === undefined) {
      res.status(400).end();
      return;
    }
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
        saveError ? next(saveError) : res.redirect(303, safeNext(formField(req, 'next')) || home(found)),
      );
    });
  });
  app.post('/logout', (req, res, next) => {
    const who = currentUser(req);
    req.session.destroy((error) => {
      if (error) return next(error);
      // A stream holds the session as it was loaded when it connected: end this user's streams now
      // (each gets a final `denied` event) rather than at the next re-check of `authorize`.
      if (who) jobsApi.closeStreams(who.username);
      res.redirect(303, '/login');
    });
  });
  app.get('/', (req, res) => {
    const who = currentUser(req);
    res.redirect(303, who ? home(who) : '/login');
  });
  app.get('/account', (req, res) => {
    if (!currentUser(req)) return res.redirect(303, '/login?next=/account');
    render(req, res, 'account');
  });
}

/** In front of every /admin route: administrators only. */
export function adminOnly(req: Request, res: Response, next: NextFunction): void {
  const who = currentUser(req);
  if (!who) {
    // Only a person opening a page is sent to the login form. A page's own fetch (a fragment it
    // refreshes, a form it posts) gets 401: a page that was just logged out may still send one, and
    // following it to the login form would hand out a token under the form another tab shows.
    if (!wantsPage(req) || req.method !== 'GET') throw new HttpError(401, 'Log in first');
    res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
    return;
  }
  if (who.role !== 'admin') throw new HttpError(403, 'This page is for administrators.');
  next();
}
