import { randomBytes } from 'node:crypto';
import { doubleCsrf } from 'csrf-csrf';

const PRE_SESSION = /^[A-Za-z0-9_-]{24}$/;

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
export function createCsrf({ secret, cookieSuffix, secure }) {
  const preSessionCookie = `pre_${cookieSuffix}`;
  const cookieOptions = { sameSite: 'strict', secure, httpOnly: true, path: '/' };

  /** The request's pre-session id: from its signed cookie, or one made for it by `formToken`. */
  const preSessionOf = (req) => {
    if (req.preSession === undefined) {
      const value = req.signedCookies?.[preSessionCookie];
      req.preSession = typeof value === 'string' && PRE_SESSION.test(value) ? value : null;
    }
    return req.preSession;
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
    getCsrfTokenFromRequest: (req) =>
      req.get('x-csrf-token') !== undefined ? req.get('x-csrf-token') : req.body?._csrf,
  });

  return {
    protect: doubleCsrfProtection,

    /** The token for a form about to be rendered; makes the pre-session (and the cookie) only if missing. */
    formToken(req, res) {
      if (!req.session?.user && preSessionOf(req) === null) {
        req.preSession = randomBytes(18).toString('base64url');
        res.cookie(preSessionCookie, req.preSession, { ...cookieOptions, sameSite: 'lax', signed: true });
      }
      return generateCsrfToken(req, res);
    },

    /**
     * The token a page sent along with a fragment request (`x-csrf-token`), if it is still valid: a
     * fragment re-rendered into that page takes the page's token and never makes one of its own.
     */
    pageToken(req) {
      return validateRequest(req) ? req.get('x-csrf-token') : null;
    },
  };
}
