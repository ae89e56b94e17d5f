import { describe, expect, it } from 'vitest';
import { createJobRegistry } from '../core/registry.js';
import { isJobsError } from '../protocol/errors.js';
import { renderJobStatus, renderJobStatusStyles } from './render.js';

const registry = await createJobRegistry({ onError: () => {} });

describe('renderJobStatus', () => {
  it('renders an idle tile with its empty message and the matching attributes', () => {
    const html = renderJobStatus(null, {
      label: 'Push to peer-a',
      action: 'sync-push',
      targetField: 'peer',
      target: 'peer-a',
      emptyMessage: 'Not pushed yet.',
      styles: false,
    });
    expect(html).toBe(
      '<job-status label="Push to peer-a" state="idle" action="sync-push" target-field="peer" target="peer-a" empty-message="Not pushed yet.">' +
        '<div class="rj-tile"><span class="rj-label">Push to peer-a</span><div class="rj-status"><span class="rj-badge">Idle</span>' +
        '<span class="rj-message">Not pushed yet.</span></div></div></job-status>',
    );
  });

  it('renders a job in words with absolute UTC times, a progress bar, and pins to the job by default', async () => {
    const job = await registry.enqueue({ category: 'sync-push', target: { peer: 'a' } });
    const running = await registry.update(job.id, {
      state: 'running',
      phase: 'transferring',
      progress: 0.25,
      message: 'Sent 1 of 4',
    });
    const html = renderJobStatus(running, { label: 'Push' });
    expect(html).toContain(`job-id="${job.id}"`);
    expect(html).toContain('state="running"');
    expect(html).toContain('<span class="rj-badge">Running</span><span class="rj-message">Sent 1 of 4</span>');
    expect(html).toContain('<progress class="rj-progress" max="100" value="25" aria-label="Progress"></progress>');
    expect(html).toContain('<div>Phase: transferring</div>');
    expect(html).toMatch(
      /<div>Started <time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/time><\/div>/,
    );
    expect(html).toContain('<style>job-status{display:block;');
    const indeterminate = renderJobStatus(await registry.update(job.id, { progress: null }), { label: 'Push' });
    expect(indeterminate).toContain('<progress class="rj-progress" max="100" aria-label="Progress">');
    // Ended, its last phase is history: the tile says how it ended, not "Phase: transferring".
    const done = renderJobStatus(await registry.update(job.id, { state: 'success', message: 'Pushed 4' }), {
      label: 'Push',
    });
    expect(done).toContain('<span class="rj-message">Pushed 4</span>');
    expect(done).not.toContain('Phase:');
    // The seed carries the whole snapshot, escaped.
    const seed = /data-job="([^"]*)"/.exec(html)?.[1] ?? '';
    expect(JSON.parse(seed.replaceAll('&quot;', '"').replaceAll('&amp;', '&'))).toEqual(running);
  });

  it('escapes every value: text and attributes', async () => {
    const job = await registry.enqueue({ category: 'sync-push', message: '<img src=x onerror=alert(1)>' });
    const html = renderJobStatus(job, {
      label: `"><script>alert('x')</script>`,
      description: 'a & b',
      action: 'sync-push',
      targetField: 'peer',
      target: `it's "quoted" <b>`,
      styles: false,
    });
    expect(html).not.toMatch(/<img|<script|<b>/);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('label="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"');
    expect(html).toContain('target="it&#39;s &quot;quoted&quot; &lt;b&gt;"');
    expect(html).toContain('<span class="rj-description">a &amp; b</span>');
  });

  it('refuses bad options with an error naming the field', () => {
    const field = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        if (isJobsError(error, 'invalid_options')) return error.field;
        throw error;
      }
      throw new Error('did not throw');
    };
    expect(field(() => renderJobStatus(null, {} as never))).toBe('label');
    expect(field(() => renderJobStatus(null, null as never))).toBe('options');
    expect(field(() => renderJobStatus(null, { label: 'x', action: 'no spaces' }))).toBe('action');
    expect(field(() => renderJobStatus(null, { label: 'x', targetField: 'peer' }))).toBe('target');
    expect(field(() => renderJobStatus(null, { label: 'x', target: 'a' }))).toBe('targetField');
    expect(field(() => renderJobStatus(null, { label: 'x', jobId: 'a b' }))).toBe('jobId');
    expect(field(() => renderJobStatus(null, { label: 'x', styles: 'yes' as never }))).toBe('styles');
    expect(field(() => renderJobStatus({ id: 'x' } as never, { label: 'x' }))).toBe('job.state');
    expect(() => renderJobStatus(null, { label: '' })).toThrow(/`label` is required/);
  });

  it('offers the stylesheet once for the page head', () => {
    expect(renderJobStatusStyles()).toMatch(/^<style>job-status\{.*<\/style>$/s);
    expect(renderJobStatusStyles()).not.toContain(':host');
  });
});
