import { JobListElement } from './job-list.js';

/**
 * Registers `<job-list>`. Safe to call more than once, and when another copy of this library
 * registered it first: the first registration wins.
 *
 * @example
 * defineJobList();
 */
export function defineJobList(tagName = 'job-list'): void {
  const registry = globalThis.customElements;
  if (!registry || registry.get(tagName)) return;
  registry.define(tagName, tagName === 'job-list' ? JobListElement : class extends JobListElement {});
}
