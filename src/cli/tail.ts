import type { JobFeedError } from '../client/feed/index.js';
import type { Job } from '../protocol/job.js';
import { follow, heldJobs, statusDetail } from './connect.js';
import { EXIT } from './exit-codes.js';
import { clean, jobJson, jobLine, renderTable, type Status } from './render.js';
import type { Session } from './session.js';
import { openScreen, readKeys } from './terminal.js';

export interface TailOptions {
  category: string[];
  target: Record<string, string[]>;
  jobId: string[];
  header: Array<[string, string]>;
  json: boolean;
  /** Milliseconds between polls while the stream is down. */
  pollInterval: number;
}

/** Frames drawn at most this often: a progress flood costs the terminal 20 frames a second. */
const FRAME_MS = 50;

/**
 * `realtime-jobs tail <url>`: every job the filters match, live. On a terminal, a table redrawn in
 * place with a status line; piped, one line per change (or JSON lines) on stdout and the connection's
 * changes on stderr. Runs until Ctrl-C (or `q` on a terminal), or until the server refuses it.
 */
export function tail(url: string, options: TailOptions, session: Session): void {
  const table = Boolean(process.stdout.isTTY) && !options.json;
  const jobs = new Map<string, Job>();
  const filter = { category: options.category, target: options.target, jobId: options.jobId };
  let draw = (_now?: boolean) => {};
  const statusLine = (status: Status, error: JobFeedError | null) =>
    `${status}: ${statusDetail(status, error, url, options.pollInterval)}`;

  const follower = follow({
    url,
    headers: options.header,
    pollIntervalMs: options.pollInterval,
    notFound: (why) => `no job routes at ${url} (${why}): check the URL`,
    onStatus(status, error) {
      // Live again: the new snapshot is the truth, without the jobs the server no longer has.
      if (table && status === 'live') {
        heldJobs(follower.feed, filter, (held) => {
          jobs.clear();
          for (const job of held) jobs.set(job.id, job);
          draw(true);
        });
      }
      if (table) draw(true);
      else process.stderr.write(`realtime-jobs: ${clean(statusLine(status, error))}\n`);
    },
    onFailure: (failure) => session.exit(failure.code, failure.message),
  });
  session.onCleanup(() => follower.close());

  if (table)
    draw = drawTable(session, () => ({
      jobs: [...jobs.values()],
      status: follower.status,
      note: statusDetail(follower.status, follower.error, url, options.pollInterval),
    }));

  follower.feed.subscribe(filter, (job) => {
    jobs.set(job.id, job);
    if (table) draw();
    else process.stdout.write(`${options.json ? jobJson(job) : jobLine(job)}\n`);
  });
  draw(true);
}

/**
 * Takes the terminal for the table: the alternate screen, keys, a redraw on every resize and every
 * second (the ages move). Returns `draw(now)`: at once, or within one frame.
 */
function drawTable(
  session: Session,
  view: () => { jobs: Job[]; status: Status; note: string },
): (now?: boolean) => void {
  const screen = openScreen(process.stdout);
  const stopKeys = readKeys(process.stdin, (key) => session.exit(key === 'quit' ? EXIT.success : EXIT.interrupted));
  const color = !process.env.NO_COLOR;
  let pending: ReturnType<typeof setTimeout> | undefined;
  const render = () => {
    clearTimeout(pending);
    pending = undefined;
    screen.draw(renderTable({ ...view(), width: screen.width, height: screen.height, now: Date.now(), color }));
  };
  const ticker = setInterval(render, 1000);
  process.stdout.on('resize', render);
  session.onCleanup(() => {
    clearInterval(ticker);
    clearTimeout(pending);
    process.stdout.off('resize', render);
    stopKeys();
    screen.close();
  });
  return (now = false) => {
    if (now) render();
    else pending ??= setTimeout(render, FRAME_MS);
  };
}
