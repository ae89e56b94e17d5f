/**
 * What `realtime-jobs` exits with. The job's own outcomes come first (as `wait` reports them); the
 * rest follow sysexits(3) where one fits, and the shell's conventions for a timeout and Ctrl-C.
 */
export const EXIT = {
  /** `wait`: the job ended `success`; `tail`: stopped on purpose. */
  success: 0,
  /** `wait`: the job ended `error`. */
  error: 1,
  /** `wait`: the job ended `warning`. */
  warning: 2,
  /** `wait`: the job was cancelled (or rejected). */
  cancelled: 3,
  /** Bad arguments, or a filter the server refuses (400) (EX_USAGE). */
  usage: 64,
  /** 404: no such job, or no job routes at that URL (EX_NOINPUT). */
  notFound: 66,
  /** 401: not logged in (EX_NOUSER: the server does not know who is asking). */
  notLoggedIn: 67,
  /** A fault of the command itself (a bug): please report it (EX_SOFTWARE). */
  software: 70,
  /** The server could not be reached for `--connect-timeout` seconds (EX_UNAVAILABLE). */
  unreachable: 69,
  /** 403: logged in, but not allowed to see jobs (EX_NOPERM). */
  notAllowed: 77,
  /** `wait --timeout` ran out (as `timeout(1)` does). */
  timeout: 124,
  /** Ctrl-C (SIGINT): 128 + 2. */
  interrupted: 130,
  /** SIGTERM: 128 + 15. */
  terminated: 143,
} as const;
