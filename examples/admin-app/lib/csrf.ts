import { randomBytes } from 'node:crypto';
import { doubleCsrf } from 'csrf-csrf';
import type { CookieOptions, Request, Response } from 'express';

const PRE_SESSION = /^[A-Za-z0-9_-]{24}$/;

/** Each request's pre-session id, once read (or made): null when it has none. */
const preSessions = new WeakMap<Request, string | null>();

/** What a request may carry as its token: the header, or the form field (urlencoded, so a string). */
function sentToken(req: Request): string | undefined {
  const header = req.get('x-csrf-token');
  if (header !== undefined) return header;
  const field: unknown = (req.body as Record<string, unknown> | undefined)?._csrf;
  return typeof field === 'string' ? field : undefined;
}

/**
 * The app's CSRF tokens (csrf-csrf's double submit), bound to who is asking: the login session once
 * there is one, and before that a pre-session, a random id in a signed cookie of its own. The login
 * form needs a token before anyone has logged in; a pre-session gives it one without storing anything,
 * so a visitor who never logs in leaves no session row behind.
 *
 * A token (and its cookie) is made only where a form is rendered, and kept while it is valid: a
 * request that renders no form never replaces the cookie under a form another tab or the same page
 * already shows. csrf-csrf hands out the cookie's own token again while it is valid for the same
 * identifier, so rendering a form twice does not change it either.
 *
 * Needs `cookie-parser` with the same secret before it (the pre-session cookie is signed).
 */
export function createCsrf({
  secret,
  cookieSuffix,
  secure,
}: {
  secret: string;
  cookieSuffix: string;
  secure: boolean;
}) {
  const preSessionCookie = `pre_${cookieSuffix}`;
  const cookieOptions = { sameSite: 'strict', secure, httpOnly: true, path: '/' } satisfies CookieOptions;

  /** The request's pre-session id: from its signed cookie, or one made for it by `formToken`. */
  const preSessionOf = (req: Request): string | null => {
    let id = preSessions.get(req);
    if (id === undefined) {
      const value: unknown = req.signedCookies?.[preSessionCookie];
      id = typeof value === 'string' && PRE_SESSION.test(value) ? value : null;
      preSessions.set(req, id);
    }
    return id;
  };

  const { doubleCsrfProtection, generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => secret,
    // Without a pre-session cookie (and logged out) a request has nothing a token could be bound to:
    // a fresh random value matches no token.
    getSessionIdentifier: (req) =>
      req.session?.user ? req.session.id : (preSessionOf(req) ?? randomBytes(18).toString('base64url')),
    cookieName: `csrf_${cookieSuffix}`,
    cookieOptions,
    // Forms send the token as a field, fetch sends it as a header: each request uses exactly one.
    getCsrfTokenFromRequest: sentToken,
  });

  return {
    protect: doubleCsrfProtection,

    /** The token for a form about to be rendered; makes the pre-session (and the cookie) only if missing. */
    formToken(req: Request, res: Response): string {
      if (!req.session?.user && preSessionOf(req) === null) {
        const id = randomBytes(18).toString('base64url');
        preSessions.set(req, id);
        res.cookie(preSessionCookie, id, { ...cookieOptions, sameSite: 'lax', signed: true });
      }
      return generateCsrfToken(req, res);
    },

    /**
     * The token a page sent along with a fragment request (`x-csrf-token`), if it is still valid: a
     * fragment re-rendered into that page takes the page's token and never makes one of its own.
     */
    pageToken(req: Request): string | null {
      return validateRequest(req) ? (req.get('x-csrf-token') ?? null) : null;
    },
  };
}
export type Csrf = ReturnType<typeof createCsrf>;
