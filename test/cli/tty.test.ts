// The terminal views through a real pseudo-terminal: tmux runs the built command in a detached
// session of a given size, and the test reads the screen back (`capture-pane`) and the terminal's
// modes (`display -p`). The command runs under `sh -c '…; echo EXIT=$?; read _'` so its exit code
// lands on the screen and the pane stays open to be read.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { waitFor } from '../support/wait.js';
import { ADMIN, CLI, ensureCli, PATIENCE_MS, startHostileServer, startServer } from './helpers.js';

beforeAll(ensureCli, 240_000);

const TMUX_CONF = join(mkdtempSync(join(tmpdir(), 'rj-tmux-')), 'tmux.conf');
writeFileSync(TMUX_CONF, 'set -g set-clipboard on\nset -g allow-rename on\n');

/** Where tmux is missing (it is installed here and in CI) these tests cannot run. */

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** A tmux server of its own (`-L`), with one session running the command line with `args`. */
function terminal(args: string[], size = { width: 100, height: 30 }) {
  const socket = `rj-cli-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // set-clipboard on: an OSC 52 write that reaches the terminal becomes a tmux buffer, to be seen.
  const tmux = (...rest: string[]) =>
    execFileSync('tmux', ['-L', socket, '-f', TMUX_CONF, ...rest], { encoding: 'utf8' });
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
    /** The pane's title (an OSC 2 that reached the terminal sets it), and tmux's buffers (OSC 52 makes one). */
    title: () => tmux('display', '-p', '-t', 'cli', '#{pane_title}').trim(),
    buffers: () => tmux('list-buffers'),
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

  it('tail drops the jobs a restarted server no longer has (a registry in memory)', async () => {
    const server = await startServer();
    await server.enqueue({ category: 'old-job' });
    const term = terminal(['tail', server.url, '-H', ADMIN, '--poll-interval', '0.2'], { width: 100, height: 10 });
    await waitFor(() => term.text().includes('old-job'), 'the first frame', PATIENCE_MS);
    await server.stop();
    const again = await startServer(server.port);
    await again.enqueue({ category: 'new-job' });
    await waitFor(
      () => term.text().includes('new-job') && term.screen()[0]?.includes('· live ·') === true,
      'the new job, live',
      PATIENCE_MS,
    );
    expect(term.screen()[0]).toContain('· 1 job ·');
    expect(term.text()).not.toContain('old-job');
    term.keys('q');
    await waitFor(() => term.text().includes('EXIT=0'), 'the exit code', PATIENCE_MS);
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

  it('tail draws hostile job data as plain text: no screen clear, title or clipboard write', async () => {
    const evil = '\u001b[2J\u001b]52;c;aGFja2Vk\u0007\u001b]2;pwned\u0007\u001b[31m';
    const now = new Date().toISOString();
    const base = { target: {}, version: 1, progress: 0.5, queuedAt: now, updatedAt: now };
    const url = await startHostileServer({
      jobs: [
        { ...base, id: 'a', state: `running${evil}`, category: `sync${evil}`, message: `Copying${evil}files` },
        { ...base, id: 'b', state: 'error', category: 'sync-pull', target: { [`p${evil}`]: evil }, message: 'Plain' },
      ],
    });
    const term = terminal(['tail', url], { width: 120, height: 10 });
    await waitFor(() => term.text().includes('Plain'), 'the first frame', PATIENCE_MS);
    const title = term.title();
    const screen = term.screen();
    expect(screen[0]).toMatch(/^realtime-jobs tail · live · 2 jobs · /);
    expect(screen[1]).toMatch(/^STATE/);
    expect(screen.filter((row) => row.includes('[2J')).length).toBe(2);
    expect(title).not.toContain('pwned');
    expect(term.buffers()).toBe('');
    term.keys('q');
    await waitFor(() => term.text().includes('EXIT=0'), 'the exit code', PATIENCE_MS);
  });

  it('tail keeps its columns with wide characters and combining marks in a narrow terminal', async () => {
    const server = await startServer();
    await server.enqueue({ category: 'sync-push', target: { peer: 'plain' } });
    const cjk = await server.enqueue({ category: 'sync-push', target: { peer: '漢字' } });
    const marks = await server.enqueue({ category: 'sync-push', target: { peer: 'e\u0301e\u0301' } });
    await server.update(cjk.id, { state: 'running', progress: 0.5, message: '漢字'.repeat(30) });
    await server.update(marks.id, { state: 'running', progress: 0.5, message: 'e\u0301'.repeat(60) });
    const term = terminal(['tail', server.url, '-H', ADMIN], { width: 70, height: 10 });
    await waitFor(() => term.text().includes('3 jobs') && term.text().includes('漢字…'), 'the frame', PATIENCE_MS);
    // Columns on screen: a Han character takes two, a combining mark none.
    const cells = (row: string) =>
      Array.from(row.replace(/\p{M}/gu, '')).reduce(
        (n, c) => n + (/\p{Script=Han}|…/u.test(c) && c !== '…' ? 2 : 1),
        0,
      );
    const rows = term.screen().slice(2, 5);
    // Every row ends with the job's age, at the same column as the others, within the 70 columns.
    for (const row of rows) expect(row).toMatch(/ \d+s$/);
    expect(new Set(rows.map(cells)).size).toBe(1);
    expect(cells(rows[0] as string)).toBeLessThanOrEqual(70);
    const ageColumn = (row: string) => cells(row.replace(/\d+s$/, ''));
    expect(new Set(rows.map(ageColumn)).size).toBe(1);
    term.keys('q');
    await waitFor(() => term.text().includes('EXIT=0'), 'the exit code', PATIENCE_MS);
  });

  it('wait keeps its one line with wide characters in a narrow terminal', async () => {
    const server = await startServer();
    const job = await server.enqueue({ category: 'sync-push' });
    const term = terminal(['wait', `${server.url}/${job.id}`, '-H', ADMIN], { width: 40, height: 10 });
    await waitFor(() => term.text().includes('queued'), 'the first line', PATIENCE_MS);
    for (const n of [1, 2, 3]) {
      await server.update(job.id, { state: 'running', progress: n / 10, message: `${n}${'漢字'.repeat(30)}` });
      await waitFor(() => term.text().includes(` ${n}0% ${n}漢`), `progress ${n}`, PATIENCE_MS);
    }
    await server.update(job.id, { state: 'success', progress: 1, message: '完了'.repeat(30) });
    await waitFor(() => term.text().includes('EXIT=0'), 'the exit code', PATIENCE_MS);
    const rows = term.screen().filter((row) => row !== '');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^success \[#{10}\] 100% 完了/);
  });
});
