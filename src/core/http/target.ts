import { JobsError } from '../../protocol/errors.js';

/** Normalizes a prefix to `/a/b` form (no trailing slash; `''` for the root). */
export function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || (prefix !== '' && !prefix.startsWith('/'))) {
    throw new JobsError('invalid_options', '`prefix` must be a path starting with `/`', { field: 'prefix' });
  }
  return prefix.replace(/\/+$/, '');
}

/**
 * The part of a (still percent-encoded) pathname below `prefix`: `''`, `/events`, `/<id>` or any other
 * path for the routes to refuse; `null` when the pathname lies outside the prefix, which the routes
 * answer with `404` before asking `authorize` anything.
 */
export function pathBelow(pathname: string, prefix: string): string | null {
  if (pathname === prefix || pathname.startsWith(`${prefix}/`)) return pathname.slice(prefix.length);
  return null;
}

/**
 * Reads a raw HTTP request target (Node's `req.url`) the way a fetch `Request` reads its URL: a path
 * is put behind a fixed origin, never resolved against one, so `//x]` or `/\%zz` stay paths instead of
 * becoming a host. Never throws: a target that is no http(s) path at all (`*`, garbage) gives null.
 */
export function parseRequestTarget(target: string): URL | null {
  try {
    const url = new URL(target.startsWith('/') ? `http://localhost${target}` : target);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}
