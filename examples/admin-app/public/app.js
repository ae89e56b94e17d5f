// Progressive enhancement for the admin pages. Without this file every form still works (POST → 303);
// the job API's actions (Approve, Reject, Cancel) need it.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';
// The page's one realtime-jobs bundle (the job history loads the list bundle, the other pages the
// tile bundle): importing it again here shares its module, and so its one feed.
const bundleUrl = document.querySelector('script[data-realtime-jobs]')?.src ?? '/assets/realtime-jobs.js';

// Forms marked data-async post with fetch and stay on the page: the answer is 202 with the job, and the
// tiles follow it through the realtime-jobs feed.
document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-async')) return;
  event.preventDefault();
  const submitter = event.submitter;
  const url = submitter?.getAttribute('formaction') ?? form.getAttribute('action');
  const body = new URLSearchParams(new FormData(form, submitter));
  const error = form.querySelector('[data-form-error]');
  if (error) error.hidden = true;
  // Disabled at once so a double click sends one request; the job's own state takes over from here.
  if (submitter) submitter.disabled = true;
  let failed = null;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { accept: 'application/json', 'x-csrf-token': csrfToken() },
      body,
      credentials: 'same-origin',
    });
    if (response.status !== 202) {
      const answer = await response.json().catch(() => null);
      failed = answer?.error?.message ?? `The server answered ${response.status}`;
    } else {
      // A choice made for one job is not kept for the next: "allow unsigned" is ticked for one pull,
      // a typed key is gone once sent.
      form.reset();
    }
  } catch {
    failed = 'The server could not be reached.';
  }
  if (failed) {
    if (submitter) submitter.disabled = false;
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
const endpoint = document.querySelector('meta[name="realtime-jobs-endpoint"]')?.content ?? '/api/admin/jobs';

document.addEventListener('click', async (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-act]') : null;
  if (!button?.dataset.actJob) return;
  const error = button.closest('form, li')?.querySelector('[data-form-error]');
  if (error) error.hidden = true;
  button.disabled = true;
  let failed = null;
  try {
    const url = `${endpoint}/${encodeURIComponent(button.dataset.actJob)}/${button.dataset.act}`;
    const response = await fetch(url, { method: 'POST', headers: { 'x-realtime-jobs': '1' } });
    if (!response.ok) {
      const answer = await response.json().catch(() => null);
      failed = answer?.error?.message ?? `The server answered ${response.status}`;
    }
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
function follow(tile) {
  const job = tile.job;
  const live = job && (job.state === 'queued' || job.state === 'running');
  const follows = `${tile.getAttribute('action')} ${tile.getAttribute('target')}`;
  for (const button of document.querySelectorAll(`button[data-act-follows="${CSS.escape(follows)}"]`)) {
    button.hidden = !live;
    if (live) button.dataset.actJob = job.id;
    else delete button.dataset.actJob;
  }
}
document.addEventListener('job-change', (event) => follow(event.target));
customElements.whenDefined('job-status').then(() => {
  for (const tile of document.querySelectorAll('job-status[action]')) follow(tile);
});

// Buttons that only work with this script (data-needs-js) are rendered disabled, beside a note that
// says so (data-without-js): enable the one, hide the other. Both stay as rendered if this file fails.
function enableScripted(root) {
  for (const element of root.querySelectorAll('[data-needs-js]')) element.disabled = false;
  for (const element of root.querySelectorAll('[data-without-js]')) element.hidden = true;
}
enableScripted(document);

// Regions marked data-live-src are re-rendered by the server whenever one of their jobs is new or
// changes state. The changes come from the page's one shared job feed (the browser bundle's, which
// the tiles use too). In between, a row marked data-job-id takes the job's message as it changes
// (its data-field="message" cell), so a running job's row says what it does now.
const regions = [...document.querySelectorAll('[data-live-src]')];
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

function showMessage(job) {
  for (const region of regions) {
    const cell = region.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"] [data-field="message"]`);
    if (cell) cell.textContent = job.message ?? '';
  }
}

// The server's time when it began to render this page: a job last changed before then is on the page
// as it is, so the feed's first snapshot of it is no news (re-rendering a region a person is about to
// click would swap the button under the click).
const renderedAt = document.querySelector('meta[name="rendered-at"]')?.content ?? '';

if (regions.length > 0) {
  const categories = [...new Set(regions.flatMap((region) => (region.dataset.liveCategories ?? '').split(/\s+/)))];
  const seen = new Map();
  try {
    const { sharedJobFeed } = await import(bundleUrl);
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
