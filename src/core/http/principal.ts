import type { Job } from '../../protocol/job.js';
import type { JobAction } from '../../protocol/wire.js';
/** Who is asking. `scopes` decides which jobs they see; no scope at all means forbidden everywhere. */
export interface Principal {
  id: string;
  scopes: readonly string[];
}

/**
 * Decides who is asking, from the framework's own request object (Express `req`, Fastify `request`,
 * a fetch `Request`). Returns null when nobody is logged in (→ 401).
 */
export type Authorize<Context> = (
  context: Context,
) => Principal | null | undefined | Promise<Principal | null | undefined>;

/** `authorize`'s answer, checked: null for nobody, a principal, or a throw for anything else (a server bug). */
export function checkedPrincipal(principal: Principal | null | undefined): Principal | null {
  if (principal === null || principal === undefined) return null;
  if (
    typeof principal !== 'object' ||
    typeof principal.id !== 'string' ||
    principal.id === '' ||
    !Array.isArray(principal.scopes) ||
    !principal.scopes.every((scope) => typeof scope === 'string')
  ) {
    throw new Error('authorize() must return null or { id: string, scopes: string[] }');
  }
  return principal;
}

/**
 * Decides whether `principal` may take `action` on `job` (`null` on an anonymous endpoint), from
 * whatever you know of them: roles, the job's category or target. Asked for each action request, and
 * for each job and action of a list or detail answer (its `permissions`), whatever the job's state, so
 * keep it cheap. Only `true` allows; a throw, or an answer that is not a boolean, answers `500`.
 */
export type AuthorizeAction<Context> = (
  principal: Principal | null,
  action: JobAction,
  job: Job,
  context: Context,
) => boolean | Promise<boolean>;
