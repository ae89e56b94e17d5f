import session from 'express-session';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * An express-session store on the app's SQLite database, so a restart keeps everyone logged in.
 * Expired rows are skipped on read and swept every few minutes.
 */
export class SqliteSessionStore extends session.Store {
  constructor(db, { sweepMs = 5 * 60 * 1000 } = {}) {
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

  get(sid, callback) {
    this.#attempt(callback, () => {
      const row = this.getStatement.get(sid, Date.now());
      return row ? JSON.parse(row.data) : null;
    });
  }

  /** Whether `sid` is a live session: false once it was destroyed (by a logout on any replica) or expired. */
  exists(sid) {
    return this.getStatement.get(sid, Date.now()) !== undefined;
  }

  set(sid, data, callback) {
    this.#attempt(callback, () => {
      this.setStatement.run(sid, JSON.stringify(data), expiry(data));
    });
  }

  touch(sid, data, callback) {
    this.#attempt(callback, () => {
      this.touchStatement.run(expiry(data), sid);
    });
  }

  destroy(sid, callback) {
    this.#attempt(callback, () => {
      this.destroyStatement.run(sid);
    });
  }

  close() {
    clearInterval(this.timer);
  }

  #attempt(callback, fn) {
    let result;
    try {
      result = fn();
    } catch (error) {
      callback?.(error);
      return;
    }
    callback?.(null, result);
  }
}

function expiry(data) {
  const expires = data?.cookie?.expires;
  const at = expires ? new Date(expires).getTime() : Number.NaN;
  return Number.isFinite(at) ? at : Date.now() + DAY_MS;
}
