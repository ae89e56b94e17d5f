import { JOB_ACTIONS, type JobAction } from '../../protocol/wire.js';
import { badRequest } from './responses.js';

/** What a path below the prefix names, with the job id (still percent-encoded) where it holds one. */
export type Route =
  | { kind: 'list' }
  | { kind: 'events' }
  | { kind: 'job'; rawId: string }
  | { kind: 'detail'; rawId: string }
  | { kind: 'action'; rawId: string; action: JobAction };

/** The methods each route answers; any other gets `405` with these in `Allow`. */
export const ALLOWED_METHODS: Record<Route['kind'], readonly string[]> = {
  list: ['GET', 'HEAD'],
  events: ['GET'],
  job: ['GET', 'HEAD'],
  detail: ['GET', 'HEAD'],
  action: ['POST'],
};

/**
 * The route a path below the prefix names: `''` or `/` (list), `/events`, `/{id}`, `/{id}/detail`,
 * `/{id}/{action}`; null for any other path, or for a request outside the prefix (→ 404).
 */
export function routeOf(path: string | null): Route | null {
  if (path === null) return null;
  if (path === '' || path === '/') return { kind: 'list' };
  if (path === '/events') return { kind: 'events' };
  const match = /^\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (!match) return null;
  const [, rawId = '', sub] = match;
  if (sub === undefined) return { kind: 'job', rawId };
  if (sub === 'detail') return { kind: 'detail', rawId };
  const action = JOB_ACTIONS.find((name) => name === sub);
  return action ? { kind: 'action', rawId, action } : null;
}

/**
 * Whether a path below the prefix is an action (`/{id}/cancel`, …): the only requests besides GET and
 * HEAD that an adapter sharing its prefix with the app's own routes (the Express router) takes.
 */
export function isActionPath(path: string | null): boolean {
  return routeOf(path)?.kind === 'action';
}

/** A query parameter given at most once: its value, or null when absent. */
export function singleParameter(query: URLSearchParams, name: string): string | null {
  const values = query.getAll(name);
  if (values.length > 1) throw badRequest(`\`${name}\` may be given once`, name);
  return values[0] ?? null;
}

/** A `1` / `0` parameter: true for `1`; false for `0` or absent. */
export function flagParameter(query: URLSearchParams, name: string): boolean {
  const value = singleParameter(query, name);
  if (value !== null && value !== '1' && value !== '0') throw badRequest(`\`${name}\` must be 1 or 0`, name);
  return value === '1';
}

/** The query string of a request target (`/path?a=1` → `?a=1`; `''` without one). */
export function queryOf(target: string): string {
  const start = target.indexOf('?');
  return start === -1 ? '' : target.slice(start);
}
