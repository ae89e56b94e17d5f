import type { Job, JobState } from '../protocol/job.js';

// What the terminal shows, as pure functions of the jobs, the time and the terminal's size: tested on
// their own, and the commands only write what they return. Everything from the server passes through
// `clean` first: a job's message is text, never escape sequences for the terminal.

/**
 * Control characters (C0, DEL, C1), bidirectional marks and overrides (with the Arabic letter mark),
 * and the line and paragraph separators: each run of them becomes one space.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what must not reach the terminal
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g;

/**
 * Server text made safe to print: no escape sequences, line breaks or direction overrides. Takes
 * anything (a hostile or broken server may send a number where a string belongs): a string is
 * cleaned, a finite number is written out, anything else is nothing.
 */
export function clean(text: unknown): string {
  if (typeof text === 'number') return Number.isFinite(text) ? String(text) : '';
  return typeof text === 'string' ? text.replace(UNSAFE, ' ') : '';
}

/** Characters that take no column: combining marks, and format characters (zero-width space, joiners). */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;
/** Characters that take two columns: East Asian wide and fullwidth ones, and emoji shown as emoji. */
const WIDE =
  /^[\u1100-\u115f\u231a\u231b\u2329\u232a\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe10-\ufe19\ufe30-\ufe6f\uff00-\uff60\uffe0-\uffe6\u{16fe0}-\u{18aff}\u{1b000}-\u{1b2ff}\u{1f200}-\u{1f2ff}\u{20000}-\u{3fffd}]$|^\p{Emoji_Presentation}$/u;

/** How many terminal columns a character takes: 0, 1 or 2 (as wcwidth(3) says, near enough). */
function columns(char: string): number {
  if (ZERO_WIDTH.test(char)) return 0;
  return WIDE.test(char) ? 2 : 1;
}

/** How many terminal columns `text` takes. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += columns(char);
  return width;
}

/**
 * `text` cut to `width` terminal columns (the last one an ellipsis when cut), padded with spaces to
 * exactly `width` unless `pad` is false. Counts columns, not characters: a wide character (CJK, emoji)
 * takes two, a combining mark none, so columns stay aligned whatever the text.
 */
export function fit(text: string, width: number, pad = true): string {
  if (width <= 0) return '';
  const total = displayWidth(text);
  if (total <= width) return pad ? text + ' '.repeat(width - total) : text;
  let kept = '';
  let used = 0;
  for (const char of text) {
    const size = columns(char);
    if (used + size > width - 1) break;
    kept += char;
    used += size;
  }
  // A wide character that did not fit leaves a column: pad it, so the cut text is exactly `width`.
  return `${kept}…${pad ? ' '.repeat(width - 1 - used) : ''}`;
}

/** How long ago, in the largest one or two units: `45s`, `12m`, `3h05m`, `2d04h`. */
export function formatAge(ms: number): string {
  // A date the server sent that is no date (a hostile or broken server).
  if (Number.isNaN(ms)) return '-';
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const two = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${two(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${two(hours % 24)}h`;
}

/** Progress from the wire within 0–1, or null when it is unknown (or not a number at all). */
export function progressShare(progress: unknown): number | null {
  if (typeof progress !== 'number' || !Number.isFinite(progress)) return null;
  return Math.min(1, Math.max(0, progress));
}

/** `[#####.....]  50%` with a bar `barWidth` cells wide; blank when progress is unknown (null). */
export function formatProgress(progress: unknown, barWidth = 10): string {
  const share = progressShare(progress);
  if (share === null) return '';
  const filled = Math.round(share * barWidth);
  const percent = `${Math.floor(share * 100)}%`.padStart(4);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${percent}`;
}

/** On a piped line every field is one word (`awk` splits on blanks): blanks and `%` percent-encoded. */
function asWord(value: unknown): string {
  return clean(value).replace(/[%\s]/gu, encodeURIComponent);
}

/** `peer=peer-a,env=prod`, or `-` for no target; `oneWord` for a piped line (`repo=my%20repo`). */
export function formatTarget(target: unknown, oneWord = false): string {
  const entries = typeof target === 'object' && target !== null ? Object.entries(target) : [];
  const text = (value: unknown) => (oneWord ? asWord(value) : clean(value));
  return entries.length === 0 ? '-' : entries.map(([field, value]) => `${text(field)}=${text(value)}`).join(',');
}

/** What a person reads about the job: its message, else its error, else its phase. */
export function jobText(job: Job): string {
  const texts: unknown[] = [job.message, (job.error as { message?: unknown } | null)?.message, job.phase];
  return clean(texts.find((text) => typeof text === 'string' || typeof text === 'number') ?? '');
}

/** One line per change when piped: `<updatedAt> <id> <state> <category> <target> <progress|-> <message>`. */
export function jobLine(job: Job): string {
  const share = progressShare(job.progress);
  const progress = share === null ? '-' : `${Math.floor(share * 100)}%`;
  // Each field before the message one word, never empty (an empty one would shift the others for awk).
  const words = [job.updatedAt, job.id, job.state, job.category].map((field) => asWord(field) || '-');
  return [...words, formatTarget(job.target, true), progress, jobText(job)].join(' ').trimEnd();
}

/**
 * Characters JSON may carry raw that a terminal acts on or reorders (DEL and C1 controls, line and
 * paragraph separators, bidirectional marks): escaped as `\uXXXX`, which parses back to the same text.
 */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The job as the server sent it, as one line of JSON, safe to print on a terminal (`--json`). */
export function jobJson(job: Job): string {
  return JSON.stringify(job).replace(JSON_UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Newest first (by `queuedAt`, then id), the order the list route uses. */
export function sortJobs(jobs: Iterable<Job>): Job[] {
  return [...jobs].sort(
    (a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
}

/** How changes reach the terminal: the feed's connection, and `connecting` before anything answered. */
export type Status = 'connecting' | 'live' | 'polling' | 'offline';

const SGR = {
  reset: '\u001b[0m',
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  magenta: '35',
  cyan: '36',
};
type Tone = Exclude<keyof typeof SGR, 'reset'>;

const STATE_TONE: Record<JobState, Tone> = {
  queued: 'dim',
  pending: 'magenta',
  running: 'cyan',
  success: 'green',
  warning: 'yellow',
  error: 'red',
  cancelled: 'dim',
};

const STATUS_TONE: Record<Status, Tone> = { connecting: 'dim', live: 'green', polling: 'yellow', offline: 'red' };

/** The state's text, clean, and its tone (none for a state this version does not know). */
function stateOf(job: Job): { text: string; tone: Tone | undefined } {
  const text = clean(job.state);
  return { text, tone: Object.hasOwn(STATE_TONE, text) ? STATE_TONE[text as JobState] : undefined };
}

/** `text` in `tone` when `color` is on. Applied to text already cut to width: escapes take no column. */
export function paint(text: string, tone: Tone | undefined, color: boolean): string {
  return color && tone ? `\u001b[${SGR[tone]}m${text}${SGR.reset}` : text;
}

/** What {@link renderTable} draws. */
export interface TableView {
  jobs: readonly Job[];
  /** Terminal columns and rows. */
  width: number;
  height: number;
  now: number;
  status: Status;
  /** Said after the status: the last error while offline, the URL otherwise. */
  note: string;
  color: boolean;
}

const GAP = ' ';
const STATE_WIDTH = 9; // `cancelled`
const PROGRESS_WIDTH = 17; // `[##########] 100%`
const AGE_WIDTH = 6; // `23h59m`
const MIN_MESSAGE_WIDTH = 12;

/** A column as wide as its longest value (or its title), kept within `min`..`max`. */
function columnWidth(title: string, values: string[], min: number, max: number): number {
  const longest = Math.max(title.length, ...values.map(displayWidth));
  return Math.min(max, Math.max(min, longest));
}

/**
 * The `tail` screen: a status line, a header, and one row per job, newest first. Returns at most
 * `height` lines, none wider than `width` columns (a narrow terminal cuts the message first, then the
 * line's end), and says how many jobs did not fit.
 */
export function renderTable(view: TableView): string[] {
  const { width, height, color } = view;
  const jobs = sortJobs(view.jobs);
  const count = `${jobs.length} job${jobs.length === 1 ? '' : 's'}`;
  const status = `${paint(view.status, STATUS_TONE[view.status], color)}`;
  const head = fit(`realtime-jobs tail · ${view.status} · ${count} · ${clean(view.note)}`, width, false);
  // The status word keeps its colour: it is the second field, never cut before the URL is.
  const lines = [head.replace(` ${view.status} `, ` ${status} `)];
  if (height < 2) return lines.slice(0, Math.max(0, height));

  const targets = jobs.map((job) => formatTarget(job.target));
  const categoryWidth = columnWidth(
    'CATEGORY',
    jobs.map((job) => clean(job.category)),
    8,
    24,
  );
  const targetWidth = columnWidth('TARGET', targets, 6, 28);
  const fixed = STATE_WIDTH + categoryWidth + targetWidth + PROGRESS_WIDTH + AGE_WIDTH + GAP.length * 5;
  const messageWidth = Math.max(MIN_MESSAGE_WIDTH, width - fixed);
  const row = (cells: string[]) => fit(cells.join(GAP).trimEnd(), width, false);
  const header = row([
    fit('STATE', STATE_WIDTH),
    fit('CATEGORY', categoryWidth),
    fit('TARGET', targetWidth),
    fit('PROGRESS', PROGRESS_WIDTH),
    fit('MESSAGE', messageWidth),
    'AGE',
  ]);
  lines.push(paint(header, 'bold', color));

  const room = height - 2;
  const shown = jobs.length > room ? Math.max(0, room - 1) : jobs.length;
  for (const [index, job] of jobs.slice(0, shown).entries()) {
    const state = stateOf(job);
    const cells = [
      fit(state.text, STATE_WIDTH),
      fit(clean(job.category), categoryWidth),
      fit(targets[index] as string, targetWidth),
      fit(formatProgress(job.progress), PROGRESS_WIDTH),
      fit(jobText(job), messageWidth),
      formatAge(view.now - Date.parse(job.queuedAt)),
    ];
    const line = row(cells);
    // Colour the state only when it is whole on screen (the line starts with it).
    const plainState = fit(state.text, STATE_WIDTH).trimEnd();
    lines.push(
      line.startsWith(plainState) ? paint(plainState, state.tone, color) + line.slice(plainState.length) : line,
    );
  }
  if (shown < jobs.length && room > 0)
    lines.push(fit(`… ${jobs.length - shown} more (a taller terminal shows them)`, width, false));
  return lines;
}

/**
 * `wait`'s line on a terminal: `running [####......]  40% Copying files · 12s`, then `note` (the
 * connection when it is not live), cut to `width`.
 */
export function renderProgressLine(job: Job, now: number, width: number, color: boolean, note = ''): string {
  const state = stateOf(job);
  const parts = [
    state.text,
    formatProgress(job.progress),
    jobText(job),
    `· ${formatAge(now - Date.parse(job.queuedAt))}`,
  ];
  if (note) parts.push(`· ${note}`);
  const line = fit(parts.filter((part) => part !== '').join(' '), width, false);
  return line.startsWith(`${state.text} `)
    ? paint(state.text, state.tone, color) + line.slice(state.text.length)
    : line;
}
