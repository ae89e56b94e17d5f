import { EXIT } from './exit-codes.js';
import { clean } from './render.js';

/** The life of one command: what to undo on the way out, and one way out. */
export interface Session {
  /** Runs `cleanup` on every way out, the last registered first (also on a crash). */
  onCleanup(cleanup: () => void): void;
  /**
   * Undoes what was set up (the terminal first), says `message` on stderr, and exits with `code` once
   * stdout and stderr are written out. Only the first call counts.
   */
  exit(code: number, message?: string): void;
  /**
   * What to do when the reader of stdout goes away (`| head -1`): by default, exit 0. `wait` goes on
   * instead, since its exit code is the job's outcome.
   */
  onStdoutClosed(handler: () => void): void;
}

const SIGNAL_EXITS = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated, SIGHUP: 129 } as const;

/** How long a signal's way out waits for stdout and stderr to be taken, before it leaves anyway. */
const SIGNAL_FLUSH_MS = 1000;

/** A stream error that only says the reader went away (`| head`, a closed terminal). */
const readerGone = (error: NodeJS.ErrnoException) => error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED';

/** Starts the session: Ctrl-C (SIGINT), SIGTERM and SIGHUP exit through {@link Session.exit}. */
export function startSession(): Session {
  const cleanups: Array<() => void> = [];
  let exiting = false;
  const runCleanups = () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch {
        // The way out goes on: one cleanup failing must not keep the cursor hidden.
      }
    }
  };
  const exit = (code: number, message?: string, flushMs = Number.POSITIVE_INFINITY) => {
    if (exiting) return;
    exiting = true;
    runCleanups();
    // Each line cleaned: a message may carry the server's words (a refusal, an error), never its escapes.
    if (message) process.stderr.write(`realtime-jobs: ${message.split('\n').map(clean).join('\n')}\n`);
    // A pipe may not have taken everything yet (it is asynchronous on some systems): wait for it.
    const flushed = [process.stdout, process.stderr].map(
      (stream) =>
        new Promise<void>((resolve) =>
          stream.writableLength === 0 || stream.destroyed ? resolve() : stream.write('', () => resolve()),
        ),
    );
    const all = Promise.all(flushed);
    // A reader that stopped reading must not keep a signal from ending the command.
    const done = Number.isFinite(flushMs)
      ? Promise.race([all, new Promise((resolve) => setTimeout(resolve, flushMs))])
      : all;
    void done.then(() => process.exit(code));
  };
  for (const [signal, code] of Object.entries(SIGNAL_EXITS)) {
    process.on(signal, () => {
      // A second signal while the first way out waits for a stalled pipe: leave now.
      if (exiting) process.exit(code);
      exit(code, undefined, SIGNAL_FLUSH_MS);
    });
  }
  // A reader that went away (`| head`): nothing more to say, and nobody to say it to.
  let stdoutClosed = () => exit(EXIT.success);
  let saidClosed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (!readerGone(error) || saidClosed) return;
    saidClosed = true;
    stdoutClosed();
  });
  // Nobody reads stderr any more (`2>&1 | head` once head is done): the command goes on without it.
  // Its next line on stdout meets the same closed pipe, and ends it quietly.
  process.stderr.on('error', () => {});
  // A bug gives the terminal back and says what happened, with its own exit code.
  process.on('uncaughtException', (error) => exit(EXIT.software, `internal error: ${error.stack ?? error}`));
  process.on('exit', runCleanups);
  return {
    onCleanup: (cleanup) => cleanups.push(cleanup),
    exit,
    onStdoutClosed: (handler) => {
      stdoutClosed = handler;
    },
  };
}
