import { EXIT } from './exit-codes.js';

/** The life of one command: what to undo on the way out, and one way out. */
export interface Session {
  /** Runs `cleanup` on every way out, the last registered first (also on a crash). */
  onCleanup(cleanup: () => void): void;
  /**
   * Undoes what was set up (the terminal first), says `message` on stderr, and exits with `code` once
   * stdout and stderr are written out. Only the first call counts.
   */
  exit(code: number, message?: string): void;
}

const SIGNAL_EXITS = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated, SIGHUP: 129 } as const;

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
  const exit = (code: number, message?: string) => {
    if (exiting) return;
    exiting = true;
    runCleanups();
    if (message) process.stderr.write(`realtime-jobs: ${message}\n`);
    // A pipe may not have taken everything yet (it is asynchronous on some systems): wait for it.
    const flushed = [process.stdout, process.stderr].map(
      (stream) =>
        new Promise<void>((resolve) => (stream.writableLength === 0 ? resolve() : stream.write('', () => resolve()))),
    );
    void Promise.all(flushed).then(() => process.exit(code));
  };
  for (const [signal, code] of Object.entries(SIGNAL_EXITS)) process.on(signal, () => exit(code));
  // A reader that went away (`| head`): nothing more to say, and nobody to say it to.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(EXIT.success);
  });
  // A bug gives the terminal back and says what happened, with its own exit code.
  process.on('uncaughtException', (error) => exit(EXIT.software, `internal error: ${error.stack ?? error}`));
  process.on('exit', runCleanups);
  return { onCleanup: (cleanup) => cleanups.push(cleanup), exit };
}
