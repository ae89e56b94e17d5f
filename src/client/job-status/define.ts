import { JobStatusElement } from './job-status.js';

/**
 * Registers `<job-status>`. Safe to call more than once, and when another copy of this library (a
 * bundle and an npm import on the same page) registered it first: the first registration wins.
 *
 * @example
 * defineJobStatus();
 */
export function defineJobStatus(tagName = 'job-status'): void {
  const registry = globalThis.customElements;
  if (!registry || registry.get(tagName)) return;
  registry.define(tagName, tagName === 'job-status' ? JobStatusElement : class extends JobStatusElement {});
}
