// Progressive enhancement for the admin pages. Without this file every form still works (POST → 303).

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';

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
    } else if (form.querySelector('input[type="password"]')) {
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

// Regions marked data-live-src are re-rendered by the server whenever one of their jobs changes state.
// The changes come from the page's one shared job feed (the browser bundle's, which the tiles use too).
const regions = [...document.querySelectorAll('[data-live-src]')];
let timer = null;
function refreshLive() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    for (const region of regions) {
      try {
        const response = await fetch(region.dataset.liveSrc, { credentials: 'same-origin' });
        if (response.ok) region.innerHTML = await response.text();
      } catch {
        // The next change tries again.
      }
    }
  }, 250);
}

if (regions.length > 0) {
  const categories = [...new Set(regions.flatMap((region) => (region.dataset.liveCategories ?? '').split(/\s+/)))];
  const seen = new Map();
  try {
    const { sharedJobFeed } = await import('/assets/realtime-jobs.js');
    sharedJobFeed().subscribe({ category: categories.filter(Boolean) }, (job) => {
      // Progress inside one state changes nothing these regions show; a new job or a new state does.
      if (seen.get(job.id) === job.state) return;
      seen.set(job.id, job.state);
      refreshLive();
    });
  } catch {
    // No bundle: the regions stay as the server rendered them, and a reload refreshes them.
  }
}
