import type { Job, JobState } from '../protocol/job.js';
import type { JobUrl } from './args.js';
import { follow, heldJobs, statusDetail } from './connect.js';
import { EXIT } from './exit-codes.js';
import { clean, jobJson, jobLine, jobText, renderProgressLine } from './render.js';
import type { Session } from './session.js';
import { ANSI } from './terminal.js';

export interface WaitOptions {
  header: Array<[string, string]>;
  json: boolean;
  /** Milliseconds; exit 124 after this long. */
  timeout?: number;
  /** Milliseconds without reaching the server before exiting 69. */
  connectTimeout: number;
  /** Exit with this code when the job waits for an approval, instead of waiting on. */
  pendingExit?: number;
  pollInterval: number;
}

/** What each end state exits with. */
const END_EXITS: Partial<Record<JobState, number>> = {
  success: EXIT.success,
  error: EXIT.error,
  warning: EXIT.warning,
  cancelled: EXIT.cancelled,
};

/** What is said on stderr about how the job ended (nothing for a success). */
function endMessage(job: Job): string | undefined {
  const text = jobText(job);
  const why = text ? `: ${text}` : '';
  if (job.state === 'error') return `job ${job.id} failed${why}`;
  if (job.state === 'warning') return `job ${job.id} ended with a warning${why}`;
  if (job.state === 'cancelled') return `job ${job.id} was cancelled${why}`;
  return undefined;
}

/**
 * `realtime-jobs wait <job url>`: follows one job until it ends and exits with what it ended as (0
 * success, 1 error, 2 warning, 3 cancelled). Progress goes to stdout (a line redrawn on a terminal,
 * one line per change when piped); with `--json` stdout gets only the final job, as JSON.
 */
export function wait(target: JobUrl, options: WaitOptions, session: Session): void {
  const jobUrl = `${target.routes}/${target.id}`;
  // Nobody reads the progress any more (`| head -1`): the exit code still tells how the job ends.
  session.onStdoutClosed(() => {});
  const progress = progressOutput(options.json, session);
  let job: Job | null = null;
  let saidPending = false;
  let saidOffline = false;
  let connectTimer: ReturnType<typeof setTimeout> | undefined;

  let finished = false;
  const finish = (code: number, message?: string) => {
    if (finished) return;
    finished = true;
    progress.end();
    if (options.json && job) process.stdout.write(`${jobJson(job)}\n`);
    session.exit(code, message);
  };

  /** Armed whenever the server is out of reach: it exits 69 unless the server answers in time. */
  const startConnectTimer = () =>
    setTimeout(() => {
      // No error at all: the request is open, but nothing usable came (a stream that never says `ready`).
      const why = follower.error
        ? `: ${follower.error.message}`
        : ': no usable answer (connected, but the job stream never got going)';
      finish(EXIT.unreachable, `cannot reach ${target.routes} for ${options.connectTimeout / 1000}s${why}`);
    }, options.connectTimeout);

  const follower = follow({
    url: target.routes,
    headers: options.header,
    pollIntervalMs: options.pollInterval,
    notFound: (why) =>
      `no such job, or wrong URL: ${jobUrl} (${why}); wait takes one job's URL: the job routes' URL, a slash and the job's id`,
    onStatus(status, error) {
      const gone = `no such job: ${jobUrl} (it may have expired, or you may not see it)`;
      // The server answered for the job's id, and the job was not in the answer.
      if (follower.reached && !job) return finish(EXIT.notFound, gone);
      const reachable = status === 'live' || status === 'polling';
      // Back after a drop: the new stream's snapshot may not carry the job any more (a restarted server
      // that kept its jobs in memory). Waiting on would never end.
      if (status === 'live') {
        heldJobs(follower.feed, { jobId: target.id }, (held) => held.length > 0 || finish(EXIT.notFound, gone));
      }
      if (reachable) {
        clearTimeout(connectTimer);
        connectTimer = undefined;
        if (saidOffline)
          progress.notice(`${status}: ${statusDetail(status, error, target.routes, options.pollInterval)}`);
        saidOffline = false;
      } else {
        connectTimer ??= startConnectTimer();
      }
      if (status === 'offline' && !saidOffline) {
        saidOffline = true;
        progress.notice(`offline: ${statusDetail(status, error, target.routes, options.pollInterval)}`);
      }
      progress.status(status === 'live' ? '' : status);
    },
    onFailure: (failure) => finish(failure.code, failure.message),
  });
  session.onCleanup(() => {
    clearTimeout(connectTimer);
    follower.close();
  });

  connectTimer = startConnectTimer();

  if (options.timeout !== undefined) {
    const timer = setTimeout(() => {
      const where = job ? `the job is ${job.state}` : 'the job was never seen';
      finish(EXIT.timeout, `timed out after ${options.timeout! / 1000}s: ${where}`);
    }, options.timeout);
    session.onCleanup(() => clearTimeout(timer));
  }

  follower.feed.subscribe({ jobId: target.id }, (next) => {
    job = next;
    progress.job(next);
    // Own keys only: a state called `constructor` from a broken server is no end (exit 0 would pass CI).
    const end = Object.hasOwn(END_EXITS, next.state) ? END_EXITS[next.state] : undefined;
    if (end !== undefined) return finish(end, endMessage(next));
    if (next.state !== 'pending') {
      saidPending = false;
      return;
    }
    if (options.pendingExit !== undefined) return finish(options.pendingExit, `job ${next.id} is pending`);
    if (!saidPending) {
      saidPending = true;
      progress.notice(`job ${next.id} is pending (waiting for an approval); still waiting`);
    }
  });
}

/** Where `wait` shows progress: a line redrawn on a terminal, one line per change on a pipe, or nowhere. */
interface ProgressOutput {
  job(job: Job): void;
  /** The connection, when it is not live ('' when it is). */
  status(status: string): void;
  /** A message on stderr, without breaking the line being redrawn. */
  notice(text: string): void;
  /** Leaves the terminal's line as it is, on a line of its own, with the cursor shown. */
  end(): void;
}

function progressOutput(json: boolean, session: Session): ProgressOutput {
  // With --json, stdout is for the final job: the progress line goes to stderr, when that is a terminal.
  const out = json ? process.stderr : process.stdout;
  const say = (text: string) => process.stderr.write(`realtime-jobs: ${clean(text)}\n`);
  if (!out.isTTY) {
    return {
      job: (job) => (json ? undefined : void out.write(`${jobLine(job)}\n`)),
      status: () => {},
      notice: say,
      end: () => {},
    };
  }
  let shown: Job | null = null;
  let note = '';
  let drawn = false;
  const color = !process.env.NO_COLOR;
  const draw = () => {
    const width = (out.columns || 80) - 1;
    const line = shown ? renderProgressLine(shown, Date.now(), width, color, note) : `waiting for the job… ${note}`;
    out.write(`\r${ANSI.clearLine}${line}`);
    drawn = true;
  };
  out.write(ANSI.hideCursor);
  const ticker = setInterval(draw, 1000);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(ticker);
    if (drawn) out.write('\n');
    out.write(ANSI.showCursor);
  };
  session.onCleanup(end);
  return {
    job(job) {
      shown = job;
      draw();
    },
    status(status) {
      note = status;
      draw();
    },
    notice(text) {
      out.write(`\r${ANSI.clearLine}`);
      say(text);
      draw();
    },
    end,
  };
}
