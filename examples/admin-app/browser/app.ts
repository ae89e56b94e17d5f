// Progressive enhancement for the admin pages. Without this file every form still works (POST → 303);
// the job API's actions (Approve, Reject, Cancel) need it. `npm run build` compiles it to
// build/assets/app.js, served as /assets/app.js.
import type { Job } from 'realtime-jobs';
import type { JobStatusElement } from 'realtime-jobs/element';

/** What the bundle at `bundleUrl` exports (the drop-in bundles re-export the element entry). */
type Bundle = typeof import('realtime-jobs/element');

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content;

const csrfToken = () => meta('csrf-token') ?? '';
// The page's one realtime-jobs bundle (the job history loads the list bundle, the other pages the
// tile bundle): importing it again here shares its module, and so its one feed.
const bundleUrl =
  document.querySelector<HTMLScriptElement>('script[data-realtime-jobs]')?.src ?? '/assets/realtime-jobs.js';

// Forms marked data-async post with fetch and stay on the page: the answer is 202 with the job, and the
// tiles follow it through the realtime-jobs feed.
document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-async')) return;
  event.preventDefault();
  const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
  const url = submitter?.getAttribute('formaction') ?? form.getAttribute('action') ?? location.href;
  // Text fields only: these forms hold no files (which URLSearchParams could not carry anyway).
  const body = new URLSearchParams();
  for (const [name, value] of new FormData(form, submitter)) if (typeof value === 'string') body.append(name, value);
  const error = form.querySelector<HTMLElement>('[data-form-error]');
  if (error) error.hidden = true;
  // Disabled at once so a double click sends one request; the job's own state takes over from here.
  if (submitter) submitter.disabled = true;
  let failed: string | null = null;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { accept: 'application/json', 'x-csrf-token': csrfToken() },
      body,
      credentials: 'same-origin',
    });
    if (response.status !== 202) {
      failed = (await errorMessage(response)) ?? `The server answered ${response.status}`;
    } else {
      // A choice made for one job is not kept for the next: "allow unsigned" is ticked for one pull,
      // a typed key is gone once sent.
      form.reset();
    }
  } catch {
    failed = 'The server could not be reached.';
  }
  if (failed) {
    // Not while the job controller holds it (aria-busy: a job of its tile started meanwhile, from
    // another tab): the job's end enables it again.
    if (submitter && submitter.getAttribute('aria-busy') !== 'true') submitter.disabled = false;
    if (error) {
      error.textContent = failed;
      error.hidden = false;
    }
  }
  refreshLive();
});

// --- the job API's actions ---------------------------------------------------------------------
// Buttons marked data-act post that action (cancel, approve, reject) of the job API for the job in
// data-act-job. The routes ask for a same-origin proof, not the app's CSRF token: the header below,
// which another site's page cannot send without a CORS preflight the app never grants.
const endpoint = meta('realtime-jobs-endpoint') ?? '/api/admin/jobs';

document.addEventListener('click', async (event) => {
  const button = event.target instanceof Element ? event.target.closest<HTMLButtonElement>('button[data-act]') : null;
  if (!button?.dataset.actJob) return;
  const error = button.closest('form, li')?.querySelector<HTMLElement>('[data-form-error]');
  if (error) error.hidden = true;
  button.disabled = true;
  let failed: string | null = null;
  try {
    const url = `${endpoint}/${encodeURIComponent(button.dataset.actJob)}/${button.dataset.act}`;
    const response = await fetch(url, { method: 'POST', headers: { 'x-realtime-jobs': '1' } });
    if (!response.ok) failed = (await errorMessage(response)) ?? `The server answered ${response.status}`;
  } catch {
    failed = 'The server could not be reached.';
  }
  button.disabled = false;
  if (failed && error) {
    error.textContent = failed;
    error.hidden = false;
  }
  refreshLive();
});

// Cancel buttons follow their tile (data-act-follows="<category> <target>"): shown while its job is
// queued or running, and aimed at that job. Without JavaScript they stay hidden.
function follow(tile: JobStatusElement) {
  const job = tile.job;
  const live = job && (job.state === 'queued' || job.state === 'running');
  const follows = `${tile.getAttribute('action')} ${tile.getAttribute('target')}`;
  for (const button of document.querySelectorAll<HTMLButtonElement>(
    `button[data-act-follows="${CSS.escape(follows)}"]`,
  )) {
    button.hidden = !live;
    if (live && job) button.dataset.actJob = job.id;
    else delete button.dataset.actJob;
  }
}
document.addEventListener('job-change', (event) => follow(event.target as JobStatusElement));
void customElements.whenDefined('job-status').then(() => {
  for (const tile of document.querySelectorAll<JobStatusElement>('job-status[action]')) follow(tile);
});

// Buttons that only work with this script (data-needs-js) are rendered disabled, beside a note that
// says so (data-without-js): enable the one, hide the other. Both stay as rendered if this file fails.
function enableScripted(root: ParentNode) {
  for (const element of root.querySelectorAll<HTMLButtonElement>('[data-needs-js]')) element.disabled = false;
  for (const element of root.querySelectorAll<HTMLElement>('[data-without-js]')) element.hidden = true;
}
enableScripted(document);

// Regions marked data-live-src are re-rendered by the server whenever one of their jobs is new or
// changes state. The changes come from the page's one shared job feed (the browser bundle's, which
// the tiles use too). In between, a row marked data-job-id takes the job's message as it changes
// (its data-field="message" cell), so a running job's row says what it does now.
const regions = [...document.querySelectorAll<HTMLElement>('[data-live-src]')];
let scheduled = false;
let fetching = false;
let again = false;
// At most one refresh every 250 ms, and one at a time: a job changing faster (its progress) neither
// starves the refresh nor piles requests up; the last change is always fetched.
function refreshLive() {
  if (fetching) {
    again = true;
    return;
  }
  if (scheduled) return;
  scheduled = true;
  setTimeout(async () => {
    scheduled = false;
    fetching = true;
    for (const region of regions) {
      if (!region.dataset.liveSrc) continue;
      try {
        // The page's token goes along: a fragment with a form (Clear API key) reuses it.
        const response = await fetch(region.dataset.liveSrc, {
          credentials: 'same-origin',
          headers: { 'x-csrf-token': csrfToken() },
        });
        if (response.ok) {
          region.innerHTML = await response.text();
          enableScripted(region);
        }
      } catch {
        // The next change tries again.
      }
    }
    fetching = false;
    if (again) {
      again = false;
      refreshLive();
    }
  }, 250);
}

function showMessage(job: Job) {
  for (const region of regions) {
    const cell = region.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"] [data-field="message"]`);
    if (cell) cell.textContent = job.message ?? '';
  }
}

// The server's time when it began to render this page: a job last changed before then is on the page
// as it is, so the feed's first snapshot of it is no news (re-rendering a region a person is about to
// click would swap the button under the click).
const renderedAt = meta('rendered-at') ?? '';

if (regions.length > 0) {
  const categories = [...new Set(regions.flatMap((region) => (region.dataset.liveCategories ?? '').split(/\s+/)))];
  const seen = new Map<string, string>();
  try {
    const { sharedJobFeed } = (await import(bundleUrl)) as Bundle;
    sharedJobFeed().subscribe({ category: categories.filter(Boolean) }, (job) => {
      showMessage(job);
      // Progress inside one state changes nothing else these regions show; a new job or a new state does.
      const before = seen.get(job.id);
      if (before === job.state) return;
      seen.set(job.id, job.state);
      if (before === undefined && job.updatedAt < renderedAt) return;
      refreshLive();
    });
  } catch {
    // No bundle: the regions stay as the server rendered them, and a reload refreshes them.
  }
}

/** The message of the library's or the app's JSON error answer, if the body is one. */
async function errorMessage(response: Response): Promise<string | null> {
  const answer: unknown = await response.json().catch(() => null);
  if (typeof answer !== 'object' || answer === null || !('error' in answer)) return null;
  const { error } = answer as { error: unknown };
  if (typeof error !== 'object' || error === null || !('message' in error)) return null;
  return typeof error.message === 'string' ? error.message : null;
}
