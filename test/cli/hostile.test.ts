// `realtime-jobs` against servers that do not behave: hostile job data, refusals carrying escape
// sequences, an HTML page where the routes should be. The built command in a child process, piped.
import { createServer, type Socket } from 'node:net';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { waitFor } from '../support/wait.js';
import { ADMIN, ensureCli, PATIENCE_MS, runCli, startHostileServer, startServer } from './helpers.js';

beforeAll(ensureCli, 240_000);

/** ESC, BEL, C1 and the other control characters a terminal acts on (line feeds between lines are fine). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: what must not reach the terminal
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

/** A job as the wire carries it, with `overrides` (anything a hostile server might send). */
function wireJob(overrides: Record<string, unknown>) {
  const now = new Date().toISOString();
  return {
    id: 'job-1',
    category: 'sync-push',
    target: {},
    state: 'running',
    version: 1,
    progress: 0.5,
    message: 'ok',
    queuedAt: now,
    updatedAt: now,
    ...overrides,
  };
}

// Clears the screen, writes the clipboard (OSC 52), sets the window title, rings the bell.
const EVIL = '\u001b[2J\u001b]52;c;aGFja2Vk\u0007\u001b]2;pwned\u001b\\\r\u0007\u009b31m';

describe('realtime-jobs against a hostile server', () => {
  it.each([
    [401, 67],
    [403, 77],
  ])('keeps escape sequences of a %i message off the terminal', async (status, code) => {
    const url = await startHostileServer({
      status,
      contentType: 'application/json',
      body: JSON.stringify({ error: { message: `Go away${EVIL}now` } }),
    });
    for (const args of [
      ['tail', url],
      ['wait', `${url}/job-1`],
    ]) {
      const run = runCli(args);
      expect(await run.exited).toBe(code);
      expect(run.stderr).toContain('Go away');
      expect(run.stderr).not.toMatch(CONTROL);
    }
  });

  it('exits 66 on an HTML page where the routes should be, without echoing it to the terminal', async () => {
    const url = await startHostileServer({ status: 200, contentType: 'text/html', body: `<html>${EVIL}</html>` });
    const tail = runCli(['tail', url, '--poll-interval', '0.2']);
    expect(await tail.exited).toBe(66);
    expect(tail.stderr).toBe(
      `realtime-jobs: no job routes at ${url} (it answered text/html, not an event stream): check the URL\n`,
    );
    // Not "cannot reach" after --connect-timeout: the server answered, with something else.
    const wait = runCli(['wait', `${url}/job-1`, '--poll-interval', '0.2', '--connect-timeout', '60']);
    expect(await wait.exited).toBe(66);
    expect(wait.stderr).toContain('(it answered text/html, not an event stream)');
    expect(wait.stderr).not.toMatch(CONTROL);
  });

  it('polls when only the stream route answers HTML (a proxy that does not route it), rather than exit', async () => {
    const url = await startHostileServer({
      status: 200,
      contentType: 'text/html',
      body: '<html></html>',
      streamOnly: true,
      jobs: [wireJob({ message: 'Listed' })],
    });
    // The default poll interval (3 s): stream attempts fail again before the first poll answers.
    const run = runCli(['tail', url]);
    const polling = () => run.stdout.includes('Listed') && run.stderr.includes('polling');
    await waitFor(() => polling() || run.child.exitCode !== null, 'the polled job', PATIENCE_MS);
    expect(run.stderr).toMatch(/^realtime-jobs: polling: the stream is down/);
    expect(run.child.exitCode).toBe(null);
  });

  it('wait says what went wrong when a stream is open but never gets going (garbage), then exits 69', async () => {
    const url = await startHostileServer({ garbage: true });
    const run = runCli(['wait', `${url}/job-1`, '--connect-timeout', '1']);
    expect(await run.exited).toBe(69);
    expect(run.stderr).toBe(
      `realtime-jobs: cannot reach ${url} for 1s: no usable answer (connected, but the job stream never got going)\n`,
    );
  });

  it('keeps going on jobs of the wrong shape, and keeps progress within 0–100%', async () => {
    const url = await startHostileServer({
      jobs: [
        wireJob({ id: 'a', message: 42, progress: 5 }),
        wireJob({ id: 'b', message: { text: 'x' }, error: 'boom', phase: 7, progress: -3 }),
        wireJob({ id: 'c', message: null, error: { message: ['x'] }, progress: 1e300, target: 'peer' }),
        wireJob({ id: 'd', progress: 'half', queuedAt: 'yesterday', target: { peer: 7 } }),
      ],
    });
    const run = runCli(['tail', url]);
    await waitFor(() => run.stderr.includes('live') || run.child.exitCode !== null, 'live', PATIENCE_MS);
    expect(run.stderr).toBe(`realtime-jobs: live: ${url}\n`);
    const lines = run.lines().map((line) => line.split(' ').slice(1).join(' '));
    expect(lines).toEqual([
      'a running sync-push - 100% 42',
      'b running sync-push - 0% 7',
      'c running sync-push - 100%',
      'd running sync-push peer=7 - ok',
    ]);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
  });
});

describe('realtime-jobs wait against a hostile server', () => {
  it.each(['constructor', '__proto__', 'toString', 'done'])(
    'keeps waiting on a state it does not know (%s)',
    async (state) => {
      const url = await startHostileServer({ jobs: [wireJob({ state })] });
      const run = runCli(['wait', `${url}/job-1`, '--timeout', '1.5']);
      // Never an exit of a known end (0 would pass a CI step): the wait runs out.
      expect(await run.exited).toBe(124);
      expect(run.stderr).toBe(`realtime-jobs: timed out after 1.5s: the job is ${state}\n`);
    },
  );

  it('prints JSON that carries no terminal controls raw, and parses back to what the server sent', async () => {
    const message = `a\u009b2Jb\u202ec\u2028d\u001be\u0085f`;
    const url = await startHostileServer({ jobs: [wireJob({ state: 'error', message })] });
    for (const args of [
      ['wait', `${url}/job-1`, '--json'],
      ['tail', url, '--json'],
    ]) {
      const run = runCli(args);
      await waitFor(() => run.lines().length > 0, 'the JSON line', PATIENCE_MS);
      run.child.kill('SIGINT');
      await run.exited;
      expect(run.stdout).not.toMatch(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      expect(run.stdout).not.toContain('\u001b');
      expect(JSON.parse(run.lines()[0] as string).message).toBe(message);
    }
  });
});

describe('realtime-jobs and its pipes', () => {
  it('goes on when stderr is closed (2>&1 | head), and exits quietly when stdout is', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const run = runCli(['tail', server.url, '-H', ADMIN]);
    await waitFor(() => run.stderr.includes('live'), 'live', PATIENCE_MS);
    run.child.stderr?.destroy();
    // The stream ends: the reconnection is said on the closed stderr.
    await server.closeStreams();
    await server.update(job.id, { state: 'running', progress: 0.5 });
    await waitFor(() => run.stdout.includes(' 50%') || run.child.exitCode !== null, 'the change', PATIENCE_MS);
    expect(run.child.exitCode).toBe(null);
    run.child.stdout?.destroy();
    await server.update(job.id, { progress: 0.6 });
    await server.update(job.id, { progress: 0.7 });
    expect(await run.exited).toBe(0);
  });

  it('wait still exits with how the job ended when its stdout is closed (| head -1 under pipefail)', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const run = runCli(['wait', `${server.url}/${job.id}`, '-H', ADMIN]);
    await waitFor(() => run.lines().length > 0, 'the first line', PATIENCE_MS);
    run.child.stdout?.destroy();
    for (const progress of [0.1, 0.2, 0.3]) await server.update(job.id, { state: 'running', progress });
    await server.update(job.id, { state: 'error', message: 'Disk full' });
    // Not 0: a CI step piping the progress to `head` must still fail with the job.
    expect(await run.exited).toBe(1);
    expect(run.stderr).toBe(`realtime-jobs: job ${job.id} failed: Disk full\n`);
  });

  it.each([
    ['tail', 'SIGTERM', 143],
    ['tail', 'SIGINT', 130],
    ['wait', 'SIGTERM', 143],
    ['wait', 'SIGINT', 130],
  ] as const)('%s exits on %s while connecting to a server that never answers', async (command, signal, code) => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/admin/jobs`;
    const run = runCli([command, command === 'wait' ? `${url}/job-1` : url]);
    await waitFor(() => sockets.length > 0, 'the connection', PATIENCE_MS);
    run.child.kill(signal);
    expect(await run.exited).toBe(code);
    expect(run.stderr).toBe('');
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('exits on %s even when nobody reads its stdout', async (signal, code) => {
    // More than a pipe holds: the command's writes queue up behind a reader that stopped reading.
    const jobs = Array.from({ length: 1500 }, (_, i) => wireJob({ id: `job-${i}`, message: 'x'.repeat(300) }));
    const url = await startHostileServer({ jobs });
    const run = runCli(['tail', url]);
    run.child.stdout?.pause();
    await waitFor(() => run.stderr.includes('live'), 'live', PATIENCE_MS);
    run.child.kill(signal);
    expect(await run.exited).toBe(code);
  });
});
