import type { Statement } from 'better-sqlite3';
import session, { type SessionData } from 'express-session';
import type { User } from './accounts.js';
import type { Db } from './db.js';

declare module 'express-session' {
  interface SessionData {
    /** Who logged in, set by the login route. */
    user: User;
    /** A one-time notice for the next page (`Added "…".`). */
    flash: string;
  }
}

const DAY_MS = 24 * 60 * 60 * 1000;
type Callback<T = void> = (error?: unknown, result?: T) => void;

/**
 * An express-session store on the app's SQLite database, so a restart keeps everyone logged in.
 * Expired rows are skipped on read and swept every few minutes.
 */
export class SqliteSessionStore extends session.Store {
  private readonly getStatement: Statement<[string, number], { data: string }>;
  private readonly setStatement: Statement<[string, string, number]>;
  private readonly touchStatement: Statement<[number, string]>;
  private readonly destroyStatement: Statement<[string]>;
  private readonly sweepStatement: Statement<[number]>;
  private readonly timer: NodeJS.Timeout;

  constructor(db: Db, { sweepMs = 5 * 60 * 1000 }: { sweepMs?: number } = {}) {
    super();
    this.getStatement = db.prepare('SELECT data FROM sessions WHERE sid = ? AND expires_at > ?');
    this.setStatement = db.prepare(
      `INSERT INTO sessions (sid, data, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (sid) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
    );
    this.touchStatement = db.prepare('UPDATE sessions SET expires_at = ? WHERE sid = ?');
    this.destroyStatement = db.prepare('DELETE FROM sessions WHERE sid = ?');
    this.sweepStatement = db.prepare('DELETE FROM sessions WHERE expires_at <= ?');
    this.timer = setInterval(() => this.sweepStatement.run(Date.now()), sweepMs);
    this.timer.unref();
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.#attempt(callback, () => {
      const row = this.getStatement.get(sid, Date.now());
      // Written by `set` below, from express-session's own object.
      return row ? (JSON.parse(row.data) as SessionData) : null;
    });
  }

  /** Whether `sid` is a live session: false once it was destroyed (by a logout on any replica) or expired. */
  exists(sid: string): boolean {
    return this.getStatement.get(sid, Date.now()) !== undefined;
  }

  override set(sid: string, data: SessionData, callback?: Callback): void {
    this.#attempt(callback, () => {
      this.setStatement.run(sid, JSON.stringify(data), expiry(data));
    });
  }

  override touch(sid: string, data: SessionData, callback?: Callback): void {
    this.#attempt(callback, () => {
      this.touchStatement.run(expiry(data), sid);
    });
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#attempt(callback, () => {
      this.destroyStatement.run(sid);
    });
  }

  close(): void {
    clearInterval(this.timer);
  }

  #attempt<T>(callback: Callback<T> | undefined, fn: () => T): void {
    let result: T;
    try {
      result = fn();
    } catch (error) {
      callback?.(error);
      return;
    }
    callback?.(null, result);
  }
}

function expiry(data: SessionData): number {
  const expires = data?.cookie?.expires;
  const at = expires ? new Date(expires).getTime() : Number.NaN;
  return Number.isFinite(at) ? at : Date.now() + DAY_MS;
}
