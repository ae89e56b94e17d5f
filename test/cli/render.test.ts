import { describe, expect, it } from 'vitest';
import {
  clean,
  displayWidth,
  fit,
  formatAge,
  formatProgress,
  jobLine,
  renderProgressLine,
  renderTable,
  type TableView,
} from '../../src/cli/render.js';
import type { Job } from '../../src/protocol/job.js';

const NOW = Date.parse('2026-01-01T12:00:00.000Z');

function job(overrides: Partial<Job> = {}): Job {
  return {
    id: 'job-1',
    category: 'sync-push',
    target: { peer: 'peer-a' },
    scope: 'admin',
    state: 'running',
    phase: null,
    progress: 0.5,
    message: 'Copying',
    data: {},
    result: null,
    error: null,
    attempt: 1,
    maxAttempts: 1,
    retryOf: null,
    key: null,
    queuedAt: new Date(NOW - 65_000).toISOString(),
    startedAt: null,
    finishedAt: null,
    updatedAt: new Date(NOW - 1000).toISOString(),
    version: 3,
    ...overrides,
  };
}

const view = (overrides: Partial<TableView> = {}): TableView => ({
  jobs: [job()],
  width: 100,
  height: 10,
  now: NOW,
  status: 'live',
  note: 'http://localhost/jobs',
  color: false,
  ...overrides,
});

describe('what the terminal shows', () => {
  it('keeps escape sequences, line breaks and direction overrides away from the terminal', () => {
    expect(clean('a\u001b[2Jb\r\n\tc\u009bd\u202ee\u0000')).toBe('a [2Jb c d e ');
  });

  it('cuts text to a width with an ellipsis, and pads it', () => {
    expect(fit('abc', 5)).toBe('abc  ');
    expect(fit('abcdef', 5)).toBe('abcd…');
    expect(fit('abcdef', 5, false)).toBe('abcd…');
    expect(fit('abc', 5, false)).toBe('abc');
    expect(fit('abc', 0)).toBe('');
  });

  it('counts terminal columns: wide characters take two, combining marks none', () => {
    expect(displayWidth('漢字')).toBe(4);
    expect(displayWidth('😀')).toBe(2);
    expect(displayWidth('e\u0301te\u0301')).toBe(3);
    expect(displayWidth('a\u200bb')).toBe(2);
    expect(fit('😀😀😀', 3)).toBe('😀…');
    // The wide character that does not fit leaves a column: padded, the cell is still 2 columns.
    expect(fit('😀😀😀', 2)).toBe('… ');
    expect(fit('漢字漢字', 6)).toBe('漢字… ');
    expect(fit('漢字漢字', 6, false)).toBe('漢字…');
    expect(fit('e\u0301e\u0301', 4)).toBe('e\u0301e\u0301  ');
    for (const text of ['漢字漢字漢字', 'e\u0301'.repeat(20), 'שלום עולם '.repeat(3), '😀a😀b😀c😀']) {
      for (const width of [1, 2, 5, 9, 12]) expect(displayWidth(fit(text, width))).toBe(width);
    }
  });

  it('keeps every field of a piped line one word, whatever the target values hold', () => {
    const line = jobLine(job({ target: { repo: 'my repo', share: '50%', tab: 'a\tb', nbsp: 'a\u00a0b' } }));
    const fields = line.split(' ');
    expect(fields[4]).toBe('repo=my%20repo,share=50%25,tab=a%20b,nbsp=a%C2%A0b');
    expect(fields.slice(5)).toEqual(['50%', 'Copying']);
    // Whatever a broken server sends: blanks encoded, an empty field a `-`.
    const odd = jobLine(
      job({ updatedAt: 'x y', id: '', state: 'a b' as Job['state'], category: '', target: { '': '' } }),
    );
    expect(odd.split(' ')).toEqual(['x%20y', '-', 'a%20b', '-', '=', '50%', 'Copying']);
    // The table shows them as they are.
    expect(renderTable(view({ jobs: [job({ target: { repo: 'my repo' } })] }))[2]).toContain('repo=my repo');
  });

  it('draws whatever a hostile server sends as plain text, within the width', () => {
    const evil = '\u001b[2J\u001b]52;c;aGk=\u0007';
    const hostile = job({
      state: `x${evil}` as Job['state'],
      category: `c${evil}`,
      target: { [`f${evil}`]: `v${evil}` } as Record<string, string>,
      message: 42 as unknown as string,
      progress: -3,
      queuedAt: 'yesterday',
    });
    const lines = renderTable(view({ jobs: [hostile], width: 120, height: 5, color: true }));
    // Without the table's own colours, nothing below 0x20 is left.
    const plain = (line: string) => line.replaceAll('\u001b[0m', '').replaceAll('\u001b[1m', '');
    for (const line of lines.slice(1)) expect(Array.from(plain(line)).every((c) => c >= ' ')).toBe(true);
    const row = lines[2];
    expect(row).toMatch(/^x \[2J \]5… c \[2J \]52;c;aGk= +f \[2J \]52;c;aGk= =v \[2J \]52… \[\.{10}\] {3}0% 42 +-$/);
    expect(renderProgressLine(hostile, NOW, 80, false, '')).toBe('x [2J ]52;c;aGk=  [..........]   0% 42 · -');
    expect(jobLine(job({ progress: 5 }))).toContain(' 100% ');
    expect(jobLine(job({ progress: -1 }))).toContain(' 0% ');
    expect(jobLine(job({ progress: 'half' as unknown as number }))).toContain(' - Copying');
  });

  it('says ages in one or two units', () => {
    expect(
      [0, 45_000, 60_000, 3_599_000, 3_600_000, 11_100_000, 86_400_000 * 2 + 3_600_000 * 4, -5].map(formatAge),
    ).toEqual(['0s', '45s', '1m', '59m', '1h00m', '3h05m', '2d04h', '0s']);
  });

  it('draws progress bars, blank when progress is unknown', () => {
    expect(formatProgress(0)).toBe('[..........]   0%');
    expect(formatProgress(0.456)).toBe('[#####.....]  45%');
    expect(formatProgress(1)).toBe('[##########] 100%');
    expect(formatProgress(1.5)).toBe('[##########] 100%');
    expect(formatProgress(null)).toBe('');
    expect(formatProgress(0.5, 4)).toBe('[##..]  50%');
  });

  it('writes one line per change for pipes', () => {
    expect(jobLine(job())).toBe(`${job().updatedAt} job-1 running sync-push peer=peer-a 50% Copying`);
    expect(
      jobLine(
        job({
          target: {},
          progress: null,
          message: null,
          state: 'error',
          error: { code: 'thrown', message: 'Boom\nline 2', attempt: 1 },
        }),
      ),
    ).toBe(`${job().updatedAt} job-1 error sync-push - - Boom line 2`);
    expect(jobLine(job({ message: null, phase: 'connecting', progress: null }))).toMatch(/ - connecting$/);
  });

  it('renders the table: status, header, newest job first, every line within the width', () => {
    const older = job({
      id: 'old',
      state: 'success',
      progress: 1,
      message: 'Done',
      queuedAt: new Date(NOW - 7_200_000).toISOString(),
    });
    const lines = renderTable(view({ jobs: [older, job()] }));
    expect(lines).toEqual([
      'realtime-jobs tail · live · 2 jobs · http://localhost/jobs',
      'STATE     CATEGORY  TARGET      PROGRESS          MESSAGE                                     AGE',
      'running   sync-push peer=peer-a [#####.....]  50% Copying                                     1m',
      'success   sync-push peer=peer-a [##########] 100% Done                                        2h00m',
    ]);
    expect(lines.every((line) => Array.from(line).length <= 100)).toBe(true);
  });

  it('cuts a long message first, and the line’s end in a narrow terminal', () => {
    const long = job({ message: 'x'.repeat(200) });
    const wide = renderTable(view({ jobs: [long], width: 80 }));
    // The age column keeps room for `23h59m`.
    expect(wide[2]).toMatch(/ x{22}… 1m$/);
    expect(Array.from(wide[2] as string)).toHaveLength(76);
    const narrow = renderTable(view({ jobs: [long], width: 40 }));
    expect(narrow.map((line) => Array.from(line).length)).toEqual([40, 40, 40]);
    expect(narrow[0]).toBe('realtime-jobs tail · live · 1 job · htt…');
    expect(narrow[2]).toBe('running   sync-push peer=peer-a [#####.…');
  });

  it('says how many jobs do not fit, and never draws more lines than the terminal has', () => {
    const jobs = Array.from({ length: 10 }, (_, i) => job({ id: `j${i}` }));
    const lines = renderTable(view({ jobs, height: 6 }));
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe('… 7 more (a taller terminal shows them)');
    expect(renderTable(view({ jobs, height: 1 }))).toHaveLength(1);
    expect(renderTable(view({ jobs, height: 0 }))).toHaveLength(0);
    expect(renderTable(view({ jobs: [], height: 5 }))).toHaveLength(2);
  });

  it('colours states and the status only when asked, without moving a column', () => {
    const plain = renderTable(view());
    const coloured = renderTable(view({ color: true, status: 'offline' }));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the colours
    const strip = (line: string) => line.replace(/\u001b\[[0-9;]*m/g, '');
    expect(coloured[0]).toContain('\u001b[31moffline\u001b[0m');
    expect(coloured[2]?.startsWith('\u001b[36mrunning\u001b[0m ')).toBe(true);
    expect(strip(coloured[2] as string)).toBe(plain[2]);
  });

  it('draws wait’s line: state, bar, message, age, and the connection when it is not live', () => {
    expect(renderProgressLine(job(), NOW, 80, false)).toBe('running [#####.....]  50% Copying · 1m');
    expect(renderProgressLine(job({ progress: null, message: null }), NOW, 80, false, 'offline')).toBe(
      'running · 1m · offline',
    );
    expect(renderProgressLine(job(), NOW, 12, false)).toBe('running [##…');
  });
});
