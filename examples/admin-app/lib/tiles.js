// The one place that renders job tiles on the server, through `realtime-jobs/html` once it is built.
const html = await import('realtime-jobs/html').catch(() => null);

/** The tiles' stylesheet, once in the page head, so server markup and upgraded element look the same. */
export const tileStyles = html ? html.renderJobStatusStyles() : '';

/** A `<job-status>` tile for this job (or none yet), readable without JavaScript. */
export function tile(job, options) {
  return html ? html.renderJobStatus(job, { ...options, styles: false }) : fallbackTile(job, options);
}

const WORDS = {
  queued: 'Queued',
  pending: 'Waiting for approval',
  running: 'Running',
  success: 'Succeeded',
  warning: 'Finished with a warning',
  error: 'Failed',
  cancelled: 'Cancelled',
};

const escapeText = (value) =>
  String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

/** Stands in for `realtime-jobs/html` while the package is built without it; same options, plainer markup. */
function fallbackTile(job, { label, description, action, targetField, target, emptyMessage } = {}) {
  const attrs = [
    `label="${escapeText(label ?? '')}"`,
    description && `description="${escapeText(description)}"`,
    emptyMessage && `empty-message="${escapeText(emptyMessage)}"`,
    action && `action="${escapeText(action)}"`,
    targetField && `target-field="${escapeText(targetField)}"`,
    target && `target="${escapeText(target)}"`,
    !action && job && `job-id="${escapeText(job.id)}"`,
    `state="${escapeText(job?.state ?? 'idle')}"`,
  ]
    .filter(Boolean)
    .join(' ');
  const body = job
    ? `<strong>${escapeText(WORDS[job.state] ?? job.state)}</strong>${job.message ? ` <span>${escapeText(job.message)}</span>` : ''}`
    : `<span>${escapeText(emptyMessage ?? 'No job yet')}</span>`;
  return `<job-status ${attrs}><div><b>${escapeText(label ?? '')}</b> ${description ? `<small>${escapeText(description)}</small>` : ''}</div><div>${body}</div></job-status>`;
}
