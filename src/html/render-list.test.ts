import { describe, expect, it } from 'vitest';
import { job } from '../../test/support/scripted-routes.js';
import { JOB_ACTIONS, offeredActions } from '../protocol/actions.js';
import { isJobsError } from '../protocol/errors.js';
import { JOB_STATES } from '../protocol/job.js';
import { checkListQuery, formatDuration, jobDuration, listQueryString, rowView, targetText } from './list-view.js';
import { readJobListQuery, renderJobList, renderJobListStyles } from './render-list.js';
import { IDLE_TONE, stateTones, tileCss } from './styles.js';

const field = (fn: () => unknown, code = 'invalid_options') => {
  try {
    fn();
  } catch (error) {
    if (isJobsError(error) && error.code === code) return error.field;
    throw error;
  }
  throw new Error('did not throw');
};

describe('offeredActions: permission × state', () => {
  it('offers a permitted action only in the states it fits', () => {
    const table = Object.fromEntries(JOB_STATES.map((state) => [state, offeredActions({ state }, JOB_ACTIONS)]));
    expect(table).toEqual({
      queued: ['cancel'],
      pending: ['cancel', 'approve', 'reject'],
      running: ['cancel'],
      success: ['retry'],
      warning: ['retry'],
      error: ['retry'],
      cancelled: ['retry'],
    });
  });

  it('offers nothing the server did not permit, and nothing without permissions', () => {
    expect(offeredActions({ state: 'pending' }, ['approve'])).toEqual(['approve']);
    expect(offeredActions({ state: 'pending' }, ['retry'])).toEqual([]);
    expect(offeredActions({ state: 'running' }, [])).toEqual([]);
    expect(offeredActions({ state: 'running' }, undefined)).toEqual([]);
    expect(offeredActions({ state: 'running' }, ['delete', 'cancel'])).toEqual(['cancel']);
  });
});

describe('rows in words', () => {
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(420)).toBe('0.4 s');
    expect(formatDuration(9_960)).toBe('9.9 s');
    expect(formatDuration(12_400)).toBe('12 s');
    expect(formatDuration(184_000)).toBe('3 min 4 s');
    expect(formatDuration(7_500_000)).toBe('2 h 5 min');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3 d 4 h');
  });

  it('measures from the start to the end, or to now while busy; nothing before the start', () => {
    const started = { startedAt: '2026-11-28T12:00:00.000Z' };
    expect(jobDuration(job({ state: 'queued' }), 0)).toBeNull();
    expect(jobDuration(job({ ...started, finishedAt: '2026-11-28T12:00:05.000Z', state: 'success' }), 0)).toBe(5000);
    expect(jobDuration(job(started), Date.parse('2026-11-28T12:01:00.000Z'))).toBe(60_000);
  });

  it('shows a bar while running, and for a waiting job that reports progress', () => {
    expect(rowView(job({ state: 'running', progress: 0.456 }), 0).progress).toBe(46);
    expect(rowView(job({ state: 'running', progress: null }), 0).progress).toBeNull();
    expect(rowView(job({ state: 'queued', progress: null }), 0).progress).toBeUndefined();
    expect(rowView(job({ state: 'success', progress: 1 }), 0).progress).toBeUndefined();
    expect(rowView(job({ target: { peer: 'a', region: 'eu' } }), 0).target).toBe('peer: a, region: eu');
  });
});

describe('renderJobList', () => {
  const jobs = [
    job({ id: 'j2', state: 'running', message: '<img src=x onerror=alert(1)>', target: { peer: `it's "<b>"` } }),
    job({ id: 'j1', state: 'error', queuedAt: '2026-11-28T11:59:00.000Z' }),
  ];

  it('renders a real table with a caption, column and row headers, and escapes every value', () => {
    const html = renderJobList(jobs, { label: 'Sync <jobs>', category: 'sync-push', next: 'j1' });
    expect(html).toMatch(/^<job-list label="Sync &lt;jobs&gt;" category="sync-push" data-page="/);
    expect(html).toContain('<caption>Sync &lt;jobs&gt;</caption>');
    expect(html).toContain('<th scope="col">State</th>');
    expect(html).toContain('<th scope="row">sync-push</th>');
    expect(html).toContain('<span class="rj-badge" data-state="running">Running</span>');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('peer: it&#39;s &quot;&lt;b&gt;&quot;');
    expect(html).not.toMatch(/<img|<b>/);
    expect(html).toContain('<time datetime="2026-11-28T12:00:00.000Z" title="2026-11-28 12:00:00 UTC">');
    expect(html).toContain('<a href="?category=sync-push&amp;before=j1">Older jobs</a>');
    expect(html).not.toContain('Newest jobs');
    expect(html).not.toContain('Actions');
    // The seed is the list answer, escaped inside its attribute.
    const seed = /data-page="([^"]*)"/.exec(html)?.[1] ?? '';
    const decoded = seed
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
    expect(JSON.parse(decoded.replace(/&amp;/g, '&'))).toEqual({ jobs, next: 'j1' });
  });

  it('renders actions disabled (they need the element), and paging back to the newest page', () => {
    const html = renderJobList(jobs, { before: 'j3', permissions: { j2: ['cancel', 'retry'], j1: [] } });
    expect(html).toContain('<th scope="col">Actions</th>');
    expect(html).toContain(
      '<button type="button" class="rj-button" disabled aria-label="Cancel sync-push (peer: it&#39;s &quot;&lt;b&gt;&quot;)">Cancel</button>',
    );
    expect(html).not.toContain('>Retry<');
    expect(html).toContain('<a href="?">Newest jobs</a>');
  });

  it('keeps the filters in its form and its links, and says when nothing matches', () => {
    const html = renderJobList([], { state: 'error', targetField: 'peer', target: 'a b', text: 'x&y', limit: 10 });
    expect(html).toContain('<option value="error" selected>Failed</option>');
    expect(html).toContain('<label>peer <input type="text" name="target.peer" value="a b"></label>');
    expect(html).toContain('<input type="search" name="text" value="x&amp;y">');
    expect(html).toContain('<input type="hidden" name="limit" value="10">');
    expect(html).toContain('No jobs match these filters.');
    expect(renderJobList([])).toContain('No jobs yet.');
  });

  it('refuses bad options, naming the option', () => {
    expect(field(() => renderJobList(null as never))).toBe('jobs');
    expect(field(() => renderJobList([], null as never))).toBe('options');
    expect(field(() => renderJobList([{ id: 'a b' }] as never))).toBe('jobs[0].id');
    expect(field(() => renderJobList([job({ state: 'done' as never })]))).toBe('jobs[0].state');
    expect(field(() => renderJobList([], { state: 'done' as never }))).toBe('state');
    expect(field(() => renderJobList([], { category: 'no spaces' }))).toBe('category');
    expect(field(() => renderJobList([], { target: 'a' }))).toBe('targetField');
    expect(field(() => renderJobList([], { limit: 0 }))).toBe('limit');
    expect(field(() => renderJobList([], { limit: 501 }))).toBe('limit');
    expect(field(() => renderJobList([], { label: '' }))).toBe('label');
    expect(field(() => renderJobList([], { next: 5 as never }))).toBe('next');
    expect(field(() => renderJobList([], { permissions: { j1: ['delete'] } as never }))).toBe('permissions.j1');
    expect(field(() => renderJobList([], { styles: 'no' as never }))).toBe('styles');
    expect(() => renderJobList([], { limit: 0 })).toThrow('renderJobList: `limit` must be an integer from 1 to 500');
  });

  it('gives badges the tiles’ colours, to the byte', () => {
    expect(tileCss(false)).toContain(stateTones((state) => `:host([state=${state}])`));
    expect(tileCss(true)).toContain(stateTones((state) => `job-status[state=${state}]`));
    expect(tileCss(false)).toContain(`${IDLE_TONE}}`);
    expect(renderJobListStyles()).toContain(stateTones((state) => `job-list .rj-badge[data-state=${state}]`));
  });

  it('offers the stylesheet once for the page head, scoped to job-list', () => {
    expect(renderJobListStyles()).toMatch(/^<style>job-list\{.*<\/style>$/s);
    expect(renderJobListStyles()).not.toContain(':host');
    expect(renderJobList([], { styles: false })).not.toContain('<style>');
  });
});

describe('readJobListQuery and listQueryString', () => {
  it('reads what the form and the links send, and writes it back the same', () => {
    const params = new URLSearchParams(
      'state=error&category=sync&target.peer=a&text=%20x%20&limit=5&before=j9&other=1',
    );
    const query = readJobListQuery(params, { targetField: 'peer' });
    expect(query).toEqual({
      state: 'error',
      category: 'sync',
      targetField: 'peer',
      target: 'a',
      text: 'x',
      limit: 5,
      before: 'j9',
    });
    expect(listQueryString(query)).toBe('state=error&category=sync&target.peer=a&text=x&limit=5&before=j9');
    expect(readJobListQuery(new URLSearchParams('state=&text='))).toEqual({});
  });

  it('names the parameter at fault', () => {
    expect(field(() => readJobListQuery(new URLSearchParams('state=done')), 'invalid_input')).toBe('state');
    expect(field(() => readJobListQuery(new URLSearchParams('limit=abc')), 'invalid_input')).toBe('limit');
    expect(
      field(
        () => readJobListQuery(new URLSearchParams(`target.peer=${'x'.repeat(300)}`), { targetField: 'peer' }),
        'invalid_input',
      ),
    ).toBe('target.peer');
    expect(
      checkListQuery({ limit: '7' }, () => {
        throw new Error();
      }),
    ).toEqual({ limit: 7 });
  });
});

describe('hostile values in a row', () => {
  it('isolates a target value holding bidi controls (dropping its own isolates), and leaves others alone', () => {
    expect(targetText({ peer: 'peer-a', region: 'eu' })).toBe('peer: peer-a, region: eu');
    expect(targetText({ a: 'x\u202Ey', b: 'after' })).toBe('a: \u2068x\u202Ey\u2069, b: after');
    // A PDI of its own would close our isolate early and let the override out.
    expect(targetText({ a: '\u2069\u202Ex' })).toBe('a: \u2068\u202Ex\u2069');
  });

  it('shows progress that is no finite number as unknown, and clamps the rest to 0–100', () => {
    const at = (progress: unknown) =>
      rowView({ ...job({ state: 'running' }), progress } as unknown as Parameters<typeof rowView>[0], 0).progress;
    expect([at(0.42), at(null), at('0.5'), at(Number.NaN), at(Number.POSITIVE_INFINITY), at(7), at(-3)]).toEqual([
      42,
      null,
      null,
      null,
      null,
      100,
      0,
    ]);
  });
});
