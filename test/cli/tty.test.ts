// The terminal views through a real pseudo-terminal: tmux runs the built command in a detached
// session of a given size, and the test reads the screen back (`capture-pane`) and the terminal's
// modes (`display -p`). The command runs under `sh -c '…; echo EXIT=$?; read _'` so its exit code
// lands on the screen and the pane stays open to be read.
import { execFileSync, spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { waitFor } from '../support/wait.js';
import { ADMIN, CLI, ensureCli, PATIENCE_MS, startServer } from './helpers.js';

beforeAll(ensureCli, 240_000);

/** Where tmux is missing (it is installed here and in CI) these tests cannot run. */

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** A tmux server of its own (`-L`), with one session running the command line with `args`. */
function terminal(args: string[], size = { width: 100, height: 30 }) {
  const socket = `rj-cli-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmux = (...rest: string[]) => execFileSync('tmux', ['-L', socket, ...rest], { encoding: 'utf8' });
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  tmux(
    'new-session',
    '-d',
    '-s',
    'cli',
    '-x',
    String(size.width),
    '-y',
    String(size.height),
    `${command}; echo EXIT=$?; read _`,
  );
  onTestFinished(() => {
    tmux('kill-server');
  });
  return {
    /** The screen, one string per row (trailing blanks dropped by tmux). */
    screen: () => tmux('capture-pane', '-p', '-t', 'cli').split('\n'),
    text: () => tmux('capture-pane', '-p', '-t', 'cli'),
    /** Whether the alternate screen is on and whether the cursor shows. */
    modes: () => {
      const [alternate, cursor] = tmux('display', '-p', '-t', 'cli', '#{alternate_on} #{cursor_flag}')
        .trim()
        .split(' ');
      return { alternate: alternate === '1', cursor: cursor === '1' };
    },
    keys: (...keys: string[]) => tmux('send-keys', '-t', 'cli', ...keys),
    resize: (width: number, height: number) =>
      tmux('resize-window', '-t', 'cli', '-x', String(width), '-y', String(height)),
  };
}

const rowsWith = (screen: string[], text: string) => screen.filter((row) => row.includes(text)).length;

// tmux plays the terminal; without it these fail (never skip), saying what to install.
describe('realtime-jobs on a terminal', () => {
  it('has tmux to play the terminal (apt-get install tmux)', () => {
    expect(spawnSync('tmux', ['-V']).status, 'tmux is needed for the terminal tests: apt-get install tmux').toBe(0);
  });

  it('tail draws a table in place with progress bars, follows resizes, and leaves cleanly on Ctrl-C', async () => {
    const server = await startServer();
    const push = await server.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
    await server.update(push.id, { state: 'running', progress: 0.2, message: 'Copying' });
    const verify = await server.enqueue({ category: 'dedalus-verify', target: { peer: 'peer-b' } });
    const term = terminal(['tail', server.url, '-H', ADMIN]);

    await waitFor(() => term.text().includes('[##........]  20% Copying'), 'the first frame', PATIENCE_MS);
    let screen = term.screen();
    expect(screen[0]).toBe(`realtime-jobs tail · live · 2 jobs · ${server.url}`);
    expect(screen[1]).toMatch(/^STATE {5}CATEGORY {7}TARGET {6}PROGRESS {10}MESSAGE +AGE$/);
    // Newest first.
    expect(screen[2]).toMatch(/^queued {4}dedalus-verify peer=peer-b {18}\s+\d+s$/);
    expect(screen[3]).toMatch(/^running {3}sync-push {6}peer=peer-a \[##\.{8}\] {2}20% Copying +\d+s$/);
    expect(term.modes()).toEqual({ alternate: true, cursor: false });

    await server.update(push.id, { progress: 0.6, message: 'Copying more' });
    await server.update(verify.id, { state: 'error', message: 'Refused' });
    await waitFor(() => term.text().includes('[######....]  60% Copying more'), 'the redrawn bar', PATIENCE_MS);
    await waitFor(() => term.text().includes('Refused'), 'the error', PATIENCE_MS);
    screen = term.screen();
    // Redrawn in place: one status line, one header, one row per job, nothing scrolled up or left over.
    expect(rowsWith(screen, 'realtime-jobs tail')).toBe(1);
    expect(rowsWith(screen, 'STATE')).toBe(1);
    expect(rowsWith(screen, 'sync-push')).toBe(1);
    expect(rowsWith(screen, '20%')).toBe(0);
    expect(screen.slice(4).every((row) => row === '')).toBe(true);

    term.resize(50, 10);
    await waitFor(() => term.screen()[0]?.endsWith('…') === true, 'the frame cut to 50 columns', PATIENCE_MS);
    screen = term.screen();
    expect(screen[0]).toBe(`realtime-jobs tail · live · 2 jobs · http://127.0…`);
    expect(Array.from(screen[0] as string)).toHaveLength(50);
    expect(screen.every((row) => row.length <= 50)).toBe(true);
    expect(rowsWith(screen, 'STATE')).toBe(1);

    term.keys('C-c');
    await waitFor(() => term.text().includes('EXIT=130'), 'the exit code', PATIENCE_MS);
    expect(term.modes()).toEqual({ alternate: false, cursor: true });
    // The main screen is as it was: no table, half-drawn or whole.
    expect(term.text().trim()).toBe('EXIT=130');
  });

  it('tail says how many jobs do not fit, and q leaves with 0', async () => {
    const server = await startServer();
    for (let i = 0; i < 8; i++) await server.enqueue({ category: 'sync-push', target: { n: String(i) } });
    const term = terminal(['tail', server.url, '-H', ADMIN], { width: 100, height: 6 });
    await waitFor(() => term.text().includes('5 more'), 'the overflow line', PATIENCE_MS);
    const screen = term.screen();
    expect(screen[0]).toContain('8 jobs');
    expect(screen[5]).toBe('… 5 more (a taller terminal shows them)');
    term.keys('q');
    await waitFor(() => term.text().includes('EXIT=0'), 'the exit code', PATIENCE_MS);
    expect(term.modes()).toEqual({ alternate: false, cursor: true });
  });

  it('wait redraws one progress line in place and ends it on a line of its own', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const term = terminal(['wait', `${server.url}/${job.id}`, '-H', ADMIN], { width: 80, height: 10 });
    await waitFor(() => term.text().includes('queued'), 'the first line', PATIENCE_MS);
    expect(term.modes().cursor).toBe(false);
    await server.update(job.id, { state: 'running', progress: 0.3, message: 'Copying' });
    await waitFor(() => term.text().includes('running [###.......]  30% Copying'), 'progress', PATIENCE_MS);
    await server.update(job.id, { state: 'success', progress: 1, message: 'Done' });
    await waitFor(() => term.text().includes('EXIT=0'), 'the exit code', PATIENCE_MS);
    const rows = term.screen().filter((row) => row !== '');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^success \[#{10}\] 100% Done · \d+s$/);
    expect(rows[1]).toBe('EXIT=0');
    expect(term.modes().cursor).toBe(true);
  });

  it('wait leaves with 130 on Ctrl-C, the cursor shown', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const term = terminal(['wait', `${server.url}/${job.id}`, '-H', ADMIN], { width: 80, height: 10 });
    await waitFor(() => term.text().includes('queued'), 'the first line', PATIENCE_MS);
    term.keys('C-c');
    await waitFor(() => term.text().includes('EXIT=130'), 'the exit code', PATIENCE_MS);
    expect(term.modes().cursor).toBe(true);
    expect(term.screen()[0]).toMatch(/^queued · \d+s/);
  });
});
