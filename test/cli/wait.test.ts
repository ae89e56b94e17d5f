// `realtime-jobs wait` as a user runs it: the built command in a child process, against the real
// routes in another (test/cli/fixtures/server.ts), piped (not a terminal).
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { ADMIN, ensureCli, freePort, PATIENCE_MS, runCli, startServer } from './helpers.js';

beforeAll(ensureCli, 240_000);

/** What a 404 adds: `wait` takes one job's URL. */
const ONE_JOB = `; wait takes one job's URL: the job routes' URL, a slash and the job's id`;

/** A job's URL on `server`, and a run of `wait` on it with the admin token. */
async function waitOn(extra: string[] = []) {
  const server = await startServer();
  const job = await server.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
  const run = runCli(['wait', `${server.url}/${job.id}`, '--header', ADMIN, ...extra]);
  // The queued job has arrived: the stream is open.
  await waitFor(() => run.lines().length > 0, 'the first line', PATIENCE_MS);
  return { server, job, run };
}

describe('realtime-jobs wait', () => {
  it('prints one line per change and exits 0 when the job succeeds', async () => {
    const { server, job, run } = await waitOn();
    await server.update(job.id, { state: 'running', progress: 0.25, message: 'Copying' });
    await waitFor(() => run.stdout.includes('25%'), 'the progress line', PATIENCE_MS);
    await server.update(job.id, { state: 'success', progress: 1, message: 'Pushed 3 files' });
    expect(await run.exited).toBe(0);
    const lines = run.lines();
    expect(lines[0]).toMatch(new RegExp(`^\\S+Z ${job.id} queued sync-push peer=peer-a -$`));
    expect(lines[1]).toContain(`${job.id} running sync-push peer=peer-a 25% Copying`);
    expect(lines.at(-1)).toContain(`${job.id} success sync-push peer=peer-a 100% Pushed 3 files`);
    expect(run.stderr).toBe('');
  });

  it.each([
    ['error', 1, 'failed: Disk full'],
    ['warning', 2, 'ended with a warning: Disk full'],
  ] as const)('exits %s → %i and says why on stderr', async (state, code, said) => {
    const { server, job, run } = await waitOn();
    await server.update(job.id, { state, message: 'Disk full' });
    expect(await run.exited).toBe(code);
    expect(run.stderr).toBe(`realtime-jobs: job ${job.id} ${said}\n`);
  });

  it('exits 3 when the job is cancelled', async () => {
    const { server, job, run } = await waitOn();
    await server.cancel(job.id);
    expect(await run.exited).toBe(3);
    expect(run.stderr).toContain(`job ${job.id} was cancelled`);
  });

  it('exits at once for a job that has ended already, and prints it as JSON with --json', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    await server.update(job.id, { state: 'warning', message: 'Partly done' });
    const run = runCli(['wait', `${server.url}/${job.id}`, '-H', ADMIN, '--json']);
    expect(await run.exited).toBe(2);
    const printed = JSON.parse(run.stdout);
    expect(printed).toMatchObject({ id: job.id, state: 'warning', message: 'Partly done', version: 2 });
    expect(run.lines()).toHaveLength(1);
  });

  it('keeps waiting while the job is pending, and says so on stderr', async () => {
    const { server, job, run } = await waitOn();
    await server.update(job.id, { state: 'pending', message: 'Waiting for approval' });
    await waitFor(() => run.stderr.includes('is pending'), 'the pending notice', PATIENCE_MS);
    expect(run.stderr).toBe(`realtime-jobs: job ${job.id} is pending (waiting for an approval); still waiting\n`);
    expect(run.child.exitCode).toBe(null);
    await server.update(job.id, { state: 'running' });
    await server.update(job.id, { state: 'success' });
    expect(await run.exited).toBe(0);
  });

  it('exits with --pending-exit when the job is pending', async () => {
    const { server, job, run } = await waitOn(['--pending-exit', '10']);
    await server.update(job.id, { state: 'pending' });
    expect(await run.exited).toBe(10);
    expect(run.stderr).toContain(`job ${job.id} is pending`);
  });

  it('exits 124 after --timeout, saying where the job stands', async () => {
    // The timer starts with the process, so on a loaded machine it may end before the job is seen:
    // then it must say so, and what it says must agree with what it printed.
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
    const run = runCli(['wait', `${server.url}/${job.id}`, '--header', ADMIN, '--timeout', '2']);
    expect(await run.exited).toBe(124);
    const where = run.lines().length > 0 ? 'the job is queued' : 'the job was never seen';
    expect(run.stderr).toBe(`realtime-jobs: timed out after 2s: ${where}\n`);
  });

  it('rides out a server that goes away for a while, saying so on stderr', async () => {
    const { server, job, run } = await waitOn(['--poll-interval', '0.2', '--connect-timeout', '20']);
    await server.update(job.id, { state: 'running', progress: 0.4 });
    await waitFor(() => run.stdout.includes(' 40%'), 'progress', PATIENCE_MS);
    await server.unplug(true);
    await waitFor(() => run.stderr.includes('offline'), 'offline', PATIENCE_MS);
    await server.update(job.id, { progress: 0.7, message: 'Moved on while away' });
    await server.unplug(false);
    const back = new RegExp(`\nrealtime-jobs: (live: ${server.url}|polling: the stream is down.*)\n$`);
    await waitFor(() => back.test(run.stderr), 'back', PATIENCE_MS);
    expect(run.lines().at(-1)).toContain(`${job.id} running sync-push peer=peer-a 70% Moved on while away`);
    await server.update(job.id, { state: 'success', progress: 1 });
    expect(await run.exited).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`^realtime-jobs: offline: cannot reach ${server.url}: .*ECONNREFUSED`));
  });

  it('exits 66 when the job is gone after a restart (a server that keeps jobs in memory)', async () => {
    const { server, job, run } = await waitOn(['--poll-interval', '0.2']);
    await server.update(job.id, { state: 'running', progress: 0.4 });
    await waitFor(() => run.stdout.includes(' 40%'), 'progress', PATIENCE_MS);
    await server.stop();
    // A new server on the same port, with a registry that never heard of the job.
    await startServer(server.port);
    expect(await run.exited).toBe(66);
    expect(run.stderr).toMatch(
      new RegExp(
        `realtime-jobs: no such job: ${server.url}/${job.id} \\(it may have expired, or you may not see it\\)\n$`,
      ),
    );
  });

  it('sends the headers it is given', async () => {
    const { server, job, run } = await waitOn(['-H', 'X-Trace: cli-test']);
    await server.update(job.id, { state: 'success' });
    expect(await run.exited).toBe(0);
    const streams = (await server.requests()).filter((request) => request.url.includes('/events'));
    expect(streams.length).toBeGreaterThan(0);
    for (const request of streams) {
      expect(request.headers.authorization).toBe('Bearer admin-token');
      expect(request.headers['x-trace']).toBe('cli-test');
      expect(new URL(request.url, 'http://x').searchParams.getAll('job_id')).toEqual([job.id]);
    }
  });
});

describe('realtime-jobs wait refuses', () => {
  it('exits 67 "not logged in" on a 401', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const run = runCli(['wait', `${server.url}/${job.id}`]);
    expect(await run.exited).toBe(67);
    expect(run.stderr).toMatch(/^realtime-jobs: not logged in: .+--header 'Authorization: Bearer <token>'\n$/);
  });

  it('exits 77 "not allowed" on a 403', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const run = runCli(['wait', `${server.url}/${job.id}`, '-H', 'Authorization: Bearer viewer-token']);
    expect(await run.exited).toBe(77);
    expect(run.stderr).toMatch(/^realtime-jobs: not allowed: /);
  });

  it('exits 66 for a job that does not exist', async () => {
    const server = await startServer();
    const run = runCli(['wait', `${server.url}/nosuchjob`, '-H', ADMIN]);
    expect(await run.exited).toBe(66);
    expect(run.stderr).toBe(
      `realtime-jobs: no such job: ${server.url}/nosuchjob (it may have expired, or you may not see it)\n`,
    );
  });

  it('exits 66 for a URL with no job routes behind it (404)', async () => {
    const server = await startServer();
    const url = `http://127.0.0.1:${server.port}/api/wrong/abc123`;
    const run = runCli(['wait', url, '-H', ADMIN]);
    expect(await run.exited).toBe(66);
    expect(run.stderr).toBe(`realtime-jobs: no such job, or wrong URL: ${url} (404)${ONE_JOB}\n`);
  });

  it('exits 66 on the job routes URL (a list, not a job), saying what it takes', async () => {
    const server = await startServer();
    await server.enqueue({ category: 'sync-push' });
    const run = runCli(['wait', server.url, '-H', ADMIN]);
    expect(await run.exited).toBe(66);
    expect(run.stderr).toBe(`realtime-jobs: no such job, or wrong URL: ${server.url} (404)${ONE_JOB}\n`);
  });

  it('says it cannot reach a server, then exits 69 after --connect-timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    const run = runCli([
      'wait',
      `http://127.0.0.1:${port}/api/admin/jobs/abc123`,
      '--connect-timeout',
      '1.5',
      '--poll-interval',
      '0.2',
    ]);
    expect(await run.exited).toBe(69);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^realtime-jobs: offline: cannot reach http://127.0.0.1:${port}/api/admin/jobs: .*ECONNREFUSED.*; still trying$`,
      ),
    );
    expect(lines.at(-1)).toMatch(
      new RegExp(`^realtime-jobs: cannot reach http://127.0.0.1:${port}/api/admin/jobs for 1.5s: .*ECONNREFUSED`),
    );
  });

  it('waits for a server that is not up yet, then answers for the job', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/admin/jobs/abc123`;
    const run = runCli(['wait', url, '-H', ADMIN, '--poll-interval', '0.2']);
    await waitFor(() => run.stderr.includes('offline'), 'offline', PATIENCE_MS);
    await startServer(port);
    expect(await run.exited).toBe(66);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^realtime-jobs: offline: cannot reach /);
    expect(lines.at(-1)).toBe(`realtime-jobs: no such job: ${url} (it may have expired, or you may not see it)`);
  });

  it.each([
    [['wait'], "missing required argument 'url'"],
    [['wait', 'not a url'], "argument 'url'. It must be an absolute URL"],
    [['wait', 'http://host/api/admin/jobs/'], "argument 'url'. It must be the URL of one job"],
    [['wait', 'http://host/jobs/abc', '--timeout', 'soon'], "option '--timeout <seconds>' argument 'soon' is invalid"],
    [['wait', 'http://host/jobs/abc', '--timeout', '0'], "option '--timeout <seconds>' argument '0' is invalid"],
    [['wait', 'http://host/jobs/abc', '--pending-exit', '256'], "option '--pending-exit <code>' argument '256'"],
    [['wait', 'http://host/jobs/abc', '-H', 'Authorization'], "option '-H, --header <name: value>' argument"],
    [['wait', 'http://host/jobs/abc', '--nope'], "unknown option '--nope'"],
    [['wait', 'http://u:p@host/jobs/abc'], "argument 'url'. It cannot hold a user name or password"],
    [['wait', 'http://host/jobs/abc', '-H', 'X-Sign: ✓'], "option '-H, --header <name: value>' argument 'X-Sign: ✓'"],
    [['wait', 'http://host/jobs/abc', '--timeout', '1e999'], "option '--timeout <seconds>' argument '1e999'"],
    [['wait', 'http://host/jobs/abc', '--timeout', '-1'], "option '--timeout <seconds>' argument '-1'"],
    [['wait', 'http://host/jobs/abc', '--connect-timeout', 'NaN'], "option '--connect-timeout <seconds>'"],
    [['wait', 'http://host/jobs/abc', '--pending-exit', '-1'], "option '--pending-exit <code>' argument '-1'"],
    [['wait', 'http://host/jobs/abc', '--timeout'], "option '--timeout <seconds>' argument missing"],
    [['wait', 'http://host/jobs/abc', 'extra'], 'too many arguments'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [[], 'Usage: realtime-jobs'],
  ])('exits 64 with the usage error for %j', async (args, said) => {
    const run = runCli(args);
    expect(await run.exited).toBe(64);
    expect(run.stderr).toContain(said);
    expect(run.stdout).toBe('');
  });
});
