import type { Eta } from 'eta';
import type { Request, Response } from 'express';
import type { Job } from 'realtime-jobs';
import type { Csrf } from '../csrf.js';
import { stateBadge, tile, tileStyles } from '../tiles.js';
import { HttpError } from './errors.js';

/** What a view is given besides `res.locals` and the tile helpers. */
export type ViewData = Record<string, unknown>;
/** A form's problems, by field: the message shown next to each. */
export type FormErrors = Record<string, string>;

/** A field of the posted form (urlencoded: a string, or absent). */
export function formField(req: Request, name: string): unknown {
  // express.urlencoded leaves `req.body` an object of fields; without a body it stays undefined.
  return (req.body as Record<string, unknown> | undefined)?.[name];
}

/** Whether the client asked for JSON (`browser/app.ts`'s fetches do). */
export const wantsJson = (req: Request): boolean => (req.get('accept') ?? '').includes('application/json');

/**
 * A browser says `Sec-Fetch-Mode: navigate` when a person opens a page; fetch, EventSource and the
 * like send another mode. Without the header (an older client) a request counts as a navigation.
 */
const navigating = (req: Request): boolean => (req.get('sec-fetch-mode') ?? 'navigate') === 'navigate';

/** Whether an answer may be a page; anything else gets JSON, never a page that would set cookies. */
export const wantsPage = (req: Request): boolean =>
  !wantsJson(req) && navigating(req) && !req.originalUrl.startsWith('/api/');

/** 303 to `path`, with a one-time line for the next page. */
export function back(req: Request, res: Response, path: string, flash?: string): void {
  if (flash) req.session.flash = flash;
  res.redirect(303, path);
}

/**
 * A form with wrong values: for fetch the first problem as JSON (with its field), for a page the
 * form again, `page(status, errors)`, each problem next to its field and the typed values kept.
 * `errors` names at least one problem.
 */
export function refuseForm(
  req: Request,
  status: number,
  errors: FormErrors,
  page: (status: number, errors: FormErrors) => void,
): void {
  const [field, message] = Object.entries(errors)[0] ?? [undefined, 'The form has a problem.'];
  if (!wantsPage(req)) throw new HttpError(status, message, field);
  page(status, errors);
}

/**
 * A started (or found) job: 202 with the job for fetch; for a plain form 303 back to the page, with
 * a line saying what happened, since without JavaScript nothing else on the page says it.
 * `asked` is when the request came in: a job queued before it was already under way (the same
 * push twice, a double click), and the run answered that one.
 */
export function started(req: Request, res: Response, job: Job, path: string, what: string, asked: number): void {
  if (wantsJson(req)) {
    res.status(202).json({ job });
    return;
  }
  const found = Date.parse(job.queuedAt) < asked;
  back(req, res, path, found ? `${what} was already under way: the page follows it.` : `${what} started.`);
}

/** The two ways of rendering a view: a whole page, or a fragment for a page already shown. */
export function createRender({ eta, csrf }: { eta: Eta; csrf: Csrf }) {
  return {
    /**
     * A whole page. It carries a form, and so a CSRF token, when someone is logged in (the header's
     * Log out) or when it is the login page; a logged-out error page has none and sets no cookie.
     */
    render(req: Request, res: Response, view: string, data: ViewData = {}, status = 200): void {
      const hasForm = Boolean(res.locals.user) || view === 'login';
      const csrfToken = hasForm ? csrf.formToken(req, res) : null;
      res
        .status(status)
        .type('html')
        .send(eta.render(view, { ...res.locals, csrfToken, ...data, tile, tileStyles, stateBadge }));
    },
    /** A fragment that `browser/app.ts` fetches into a page: its forms take the page's own token. */
    renderFragment(req: Request, res: Response, view: string, data: ViewData = {}): void {
      res
        .type('html')
        .send(
          eta.render(view, { ...res.locals, csrfToken: csrf.pageToken(req), ...data, tile, tileStyles, stateBadge }),
        );
    },
  };
}
export type Render = ReturnType<typeof createRender>;
