import { isBusy, type Job, replacesShownJob } from '../../protocol/job.js';
import type { JobFeedFilter } from '../feed/index.js';
import { pageEndpoint, watchJobs } from '../shared.js';

const SELECTOR = '[data-job-control]';
const ATTRIBUTES = [
  'data-job-control',
  'data-job-action',
  'data-job-target-field',
  'data-job-target',
  'data-job-endpoint',
];

interface Control {
  key: string;
  off: () => void;
  job: Job | null;
}

const controls = new Map<Element, Control>();
let observer: MutationObserver | null = null;

function setBusy(element: Element, busy: boolean, job: Job): void {
  element.setAttribute('data-job-state', job.state);
  if ('disabled' in element) (element as HTMLButtonElement).disabled = busy;
  else if (busy) element.setAttribute('aria-disabled', 'true');
  else element.removeAttribute('aria-disabled');
  if (busy) element.setAttribute('aria-busy', 'true');
  else element.removeAttribute('aria-busy');
}

function attach(element: Element): void {
  const action = element.getAttribute('data-job-action');
  const field = element.getAttribute('data-job-target-field');
  const target = element.getAttribute('data-job-target');
  const url = element.getAttribute('data-job-endpoint') || pageEndpoint();
  const key = action && element.isConnected ? `${url} ${action} ${field} ${target}` : '';
  const existing = controls.get(element);
  if (existing?.key === key) return;
  existing?.off();
  controls.delete(element);
  if (!key || !action) return;
  const filter: JobFeedFilter = { category: action };
  if (field && target !== null) filter.target = { [field]: target };
  const control: Control = { key, off: () => {}, job: null };
  controls.set(element, control);
  try {
    control.off = watchJobs(url, filter, (job) => {
      // The newest matching job decides; an older job's late update must not unlock the control.
      if (!replacesShownJob(job, control.job)) return;
      control.job = job;
      setBusy(element, isBusy(job.state), job);
    });
  } catch (error) {
    console.error(`[data-job-control]: ${(error as Error).message}`);
  }
}

function scan(node: Node): void {
  if (!(node instanceof Element)) return;
  if (node.matches(SELECTOR)) attach(node);
  for (const element of node.querySelectorAll(SELECTOR)) attach(element);
}

/**
 * Disables every `[data-job-control]` element while the newest job of its `data-job-action` (on
 * `data-job-target-field` = `data-job-target`) is busy, and enables it when that job ends. Controls
 * added later are picked up; a control with no matching job keeps the state the server gave it.
 * Importing `realtime-jobs/element` calls this; calling it again does nothing.
 *
 * @example
 * // <button data-job-control data-job-action="sync-push" data-job-target-field="peer" data-job-target="peer-a">Push now</button>
 * startJobControls();
 */
export function startJobControls(): void {
  const doc = globalThis.document;
  if (observer || !doc || typeof MutationObserver !== 'function') return;
  observer = new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === 'attributes') {
        attach(record.target as Element);
        continue;
      }
      for (const node of record.addedNodes) scan(node);
      for (const node of record.removedNodes) {
        if (!(node instanceof Element)) continue;
        for (const [element, control] of controls) {
          if (!element.isConnected && (element === node || node.contains(element))) {
            control.off();
            controls.delete(element);
          }
        }
      }
    }
  });
  observer.observe(doc, { childList: true, subtree: true, attributes: true, attributeFilter: ATTRIBUTES });
  scan(doc.documentElement);
}

/** Stops the controller and releases every subscription (tests, single-page apps tearing down). */
export function stopJobControls(): void {
  observer?.disconnect();
  observer = null;
  for (const control of controls.values()) control.off();
  controls.clear();
}
