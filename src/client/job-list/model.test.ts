import { describe, expect, it } from 'vitest';
import { job } from '../../../test/support/scripted-routes.js';
import type { JobListQuery } from '../../html/list-view.js';
import type { Job } from '../../protocol/job.js';
import type { JobsApi } from './api.js';
import { ListModel } from './model.js';

/** Job `n`, queued `n` seconds after a fixed time: higher is newer. */
const at = (n: number, fields: Partial<Job> = {}) =>
  job({ id: `j${n}`, queuedAt: new Date(Date.UTC(2026, 10, 28, 12, 0, n)).toISOString(), ...fields });

function model(query: JobListQuery = {}) {
  const said: string[] = [];
  const host = { changed() {}, announce: (_key: string, text: string) => said.push(text), api: {} as JobsApi, query };
  const list = new ListModel(host);
  return { list, said, host, ids: () => list.rows.map((row) => row.id) };
}

describe('ListModel', () => {
  it('holds news until the first page, then applies it: newer versions in place, new jobs on top', () => {
    const { list, said, ids } = model();
    list.add(at(9, { version: 2, state: 'running' }));
    list.add(at(10));
    expect(ids()).toEqual([]);
    list.take({ jobs: [at(9, { state: 'queued' }), at(8)], next: 'j8' }, false);
    expect(ids()).toEqual(['j10', 'j9', 'j8']);
    expect(list.rows[1]?.state).toBe('running');
    expect(said).toEqual(['sync-push: Running.', 'New job sync-push: Running.']);
  });

  it('while a new first page loads, news waits for it instead of joining rows about to go', () => {
    const { list, ids } = model({ category: 'sync-push' });
    list.take({ jobs: [at(5), at(4)], next: null }, false);
    list.expectPage();
    // Created after the server answered the page: the page will not carry it.
    list.add(at(12));
    list.take({ jobs: [at(11), at(3)], next: null }, false);
    expect(ids()).toEqual(['j12', 'j11', 'j3']);
  });

  it('takes only matching jobs, and an older page’s rows no new ones', () => {
    const { list, ids, host } = model({ state: 'running' });
    list.take({ jobs: [at(5, { state: 'running' })], next: null }, false);
    list.add(at(6, { state: 'queued' }));
    list.add(at(7, { state: 'running' }));
    expect(ids()).toEqual(['j7', 'j5']);
    host.query.before = 'j9';
    list.add(at(8, { state: 'running' }));
    expect(ids()).toEqual(['j7', 'j5']);
  });

  it('appends older pages and merges their permissions; a first page replaces them', () => {
    const { list, ids } = model();
    list.take({ jobs: [at(5)], next: 'j5', permissions: { j5: ['cancel'] } }, false);
    list.take({ jobs: [at(4)], next: null, permissions: { j4: ['retry'] } }, true);
    expect(ids()).toEqual(['j5', 'j4']);
    expect([...(list.permissions ?? [])]).toEqual([
      ['j5', ['cancel']],
      ['j4', ['retry']],
    ]);
    list.take({ jobs: [at(5)], next: null }, false);
    expect(list.permissions).toBeNull();
    expect(() => list.take({} as never, false)).toThrow('The list answered without `jobs`');
  });

  it('asks the routes again for the permissions of a shown job whose state changed', async () => {
    const { list, host } = model();
    const asked: string[][] = [];
    host.api = {
      page: async (_query: JobListQuery, ids: string[]) => {
        asked.push(ids);
        return {
          jobs: [at(5, { state: 'pending', version: 3 })],
          next: null,
          permissions: { j5: ['approve', 'reject'] },
        };
      },
    } as unknown as JobsApi;
    list.take({ jobs: [at(5, { state: 'running', version: 2 })], next: null, permissions: { j5: ['cancel'] } }, false);
    // Progress within a state asks nothing; a new state does (the app may forbid cancelling a pending job).
    list.add(at(5, { state: 'running', version: 3, progress: 0.5 }));
    list.add(at(5, { state: 'pending', version: 4 }));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(asked).toEqual([['j5']]);
    expect(list.permissions?.get('j5')).toEqual(['approve', 'reject']);
    expect(list.rows.map((row) => `${row.state} ${row.version}`)).toEqual(['pending 4']);
  });
});
