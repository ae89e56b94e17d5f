// `realtime-jobs tail` piped (not a terminal): the built command in a child process, against the real
// routes in another (test/cli/fixtures/server.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { ADMIN, ensureCli, freePort, PATIENCE_MS, runCli, startServer } from './helpers.js';

beforeAll(ensureCli, 240_000);

describe('realtime-jobs tail, piped', () => {
  it('prints one line per job, then one per change, and the connection on stderr', async () => {
    const server = await startServer();
    const push = await server.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
    const run = runCli(['tail', server.url, '-H', ADMIN]);
    await waitFor(() => run.stderr.includes('live'), 'live', PATIENCE_MS);
    expect(run.stderr).toBe(`realtime-jobs: live: ${server.url}\n`);
    expect(run.lines()).toHaveLength(1);
    expect(run.lines()[0]).toMatch(new RegExp(`^\\S+Z ${push.id} queued sync-push peer=peer-a -$`));

    await server.update(push.id, { state: 'running', progress: 0.5, message: 'Copying\nfiles\u001b[2J\u202e' });
    const pull = await server.enqueue({ category: 'sync-pull' });
    await waitFor(() => run.lines().length === 3, 'two more lines', PATIENCE_MS);
    // Control characters in a message never reach the terminal.
    expect(run.lines()[1]).toMatch(new RegExp(`Z ${push.id} running sync-push peer=peer-a 50% Copying files \\[2J$`));
    expect(run.lines()[2]).toMatch(new RegExp(`Z ${pull.id} queued sync-pull - -$`));
    expect(run.child.exitCode).toBe(null);

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
  });

  it('prints JSON lines with --json', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const run = runCli(['tail', server.url, '-H', ADMIN, '--json']);
    await waitFor(() => run.lines().length === 1, 'the snapshot', PATIENCE_MS);
    await server.update(job.id, { state: 'success', progress: 1 });
    await waitFor(() => run.lines().length === 2, 'the change', PATIENCE_MS);
    const jobs = run.lines().map((line) => JSON.parse(line));
    expect(jobs.map((each) => [each.id, each.state, each.version])).toEqual([
      [job.id, 'queued', 1],
      [job.id, 'success', 2],
    ]);
  });

  it('sends the filters and headers to the server, and shows only what they match', async () => {
    const server = await startServer();
    const a = await server.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
    await server.enqueue({ category: 'sync-push', target: { peer: 'peer-b' } });
    await server.enqueue({ category: 'dedalus-verify', target: { peer: 'peer-a' } });
    const run = runCli([
      'tail',
      server.url,
      '--category',
      'sync-push',
      '--category',
      'sync-pull',
      '--target',
      'peer=peer-a',
      '--job-id',
      a.id,
      '--header',
      ADMIN,
      '--header',
      'X-Trace: one',
      '--json',
    ]);
    await waitFor(() => run.stderr.includes('live'), 'live', PATIENCE_MS);
    expect(run.lines().map((line) => JSON.parse(line).id)).toEqual([a.id]);
    const [stream] = (await server.requests()).filter((request) => request.url.includes('/events'));
    const query = new URL(stream?.url ?? '', 'http://x').searchParams;
    expect(query.getAll('category')).toEqual(['sync-push', 'sync-pull']);
    expect(query.getAll('target.peer')).toEqual(['peer-a']);
    expect(query.getAll('job_id')).toEqual([a.id]);
    expect(stream?.headers.authorization).toBe('Bearer admin-token');
    expect(stream?.headers['x-trace']).toBe('one');
  });

  it('polls while the stream is down, says so on stderr, and goes live again', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const run = runCli(['tail', server.url, '-H', ADMIN, '--poll-interval', '0.2']);
    await waitFor(() => run.stderr.includes('live'), 'live', PATIENCE_MS);
    // Streams answer 502 from now on; the open one ends, as in a deploy behind a proxy.
    await server.failStreams(true);
    await server.closeStreams();
    await waitFor(() => run.stderr.includes('polling'), 'polling', PATIENCE_MS);
    await server.update(job.id, { state: 'running', progress: 0.3 });
    await waitFor(() => run.stdout.includes(`${job.id} running sync-push - 30%`), 'the change, by a poll', PATIENCE_MS);
    await server.failStreams(false);
    await waitFor(() => run.stderr.endsWith(`realtime-jobs: live: ${server.url}\n`), 'live again', PATIENCE_MS);
    expect(run.stderr).toContain(`realtime-jobs: polling: the stream is down; polling ${server.url} every 0.2s\n`);
  });

  it('says it cannot reach the server, keeps trying, and shows the jobs once it is up', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/admin/jobs`;
    const run = runCli(['tail', url, '-H', ADMIN, '--poll-interval', '0.2']);
    await waitFor(() => run.stderr.includes('offline'), 'offline', PATIENCE_MS);
    expect(run.stderr).toMatch(
      new RegExp(`^realtime-jobs: offline: cannot reach ${url}: .*ECONNREFUSED.*; still trying\n$`),
    );
    expect(run.child.exitCode).toBe(null);

    const server = await startServer(port);
    const job = await server.enqueue({ category: 'sync-push' });
    await waitFor(() => run.stdout.includes(`${job.id} queued`), 'the job, once the server is up', PATIENCE_MS);
    await waitFor(() => run.stderr.endsWith(`realtime-jobs: live: ${url}\n`), 'live', PATIENCE_MS);
  });

  it.each([
    [[], 67, /^realtime-jobs: not logged in: /],
    [['-H', 'Authorization: Bearer viewer-token'], 77, /^realtime-jobs: not allowed: /],
  ])('stops on a refusal (%j → %i)', async (extra, code, said) => {
    const server = await startServer();
    const run = runCli(['tail', server.url, ...extra]);
    expect(await run.exited).toBe(code);
    expect(run.stderr).toMatch(said);
  });

  it('exits 66 for a URL with no job routes behind it', async () => {
    const server = await startServer();
    const url = `http://127.0.0.1:${server.port}/api/wrong`;
    const run = runCli(['tail', url, '-H', ADMIN]);
    expect(await run.exited).toBe(66);
    expect(run.stderr).toBe(`realtime-jobs: no job routes at ${url} (404): check the URL\n`);
  });

  it.each([
    [['tail'], "missing required argument 'url'"],
    [['tail', 'ftp://host/jobs'], "argument 'url'. It must be an http:// or https:// URL"],
    [['tail', 'http://h/jobs', '--category', 'bad name'], "option '--category <name>' argument 'bad name' is invalid"],
    [['tail', 'http://h/jobs', '--target', 'peer'], "option '--target <field=value>' argument 'peer' is invalid"],
    [['tail', 'http://h/jobs', '--job-id', 'no/slash'], "option '--job-id <id>' argument 'no/slash' is invalid"],
    [['tail', 'http://h/jobs', '--poll-interval', '-1'], "option '--poll-interval <seconds>' argument '-1'"],
  ])('exits 64 with the usage error for %j', async (args, said) => {
    const run = runCli(args);
    expect(await run.exited).toBe(64);
    expect(run.stderr).toContain(said);
  });
});
