import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/**
 * The app's own tables. Jobs are not here: the job registry keeps them in its JSONL log. This database
 * holds what the app owns: accounts, sessions, wrong passwords (the login throttle), settings, the
 * synced dataset and the two logs.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'viewer'))
);
CREATE TABLE IF NOT EXISTS sessions (
  sid TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS login_failures (
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_last ON login_failures (last_at);
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value TEXT
);
CREATE TABLE IF NOT EXISTS records (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  origin TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox (
  transfer_id TEXT PRIMARY KEY,
  from_peer TEXT NOT NULL,
  chunks INTEGER NOT NULL,
  received INTEGER NOT NULL DEFAULT 0,
  records TEXT NOT NULL DEFAULT '[]',
  signature TEXT,
  verified TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  transfer_id TEXT PRIMARY KEY,
  to_peer TEXT NOT NULL,
  chunks TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_nonces (
  peer TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (peer, nonce)
);
CREATE INDEX IF NOT EXISTS peer_nonces_expires ON peer_nonces (expires_at);
CREATE TABLE IF NOT EXISTS staged_bundles (
  job_id TEXT PRIMARY KEY,
  peer TEXT NOT NULL,
  direction TEXT NOT NULL,
  transfer_id TEXT,
  records TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_activity (
  job_id TEXT PRIMARY KEY,
  direction TEXT NOT NULL,
  peer TEXT NOT NULL,
  started_at TEXT NOT NULL,
  state TEXT NOT NULL,
  message TEXT,
  records INTEGER,
  finished_at TEXT
);
CREATE TABLE IF NOT EXISTS dedalus_runs (
  job_id TEXT PRIMARY KEY,
  trigger TEXT NOT NULL,
  started_at TEXT NOT NULL,
  outcome TEXT NOT NULL,
  duration_ms INTEGER,
  models INTEGER,
  error TEXT
);
`;

/**
 * Opens (and creates) the instance's SQLite database. WAL keeps readers off the writer's back, and lets
 * several processes (replicas of one peer) share the file.
 */
export type Db = Database.Database;

export function openDatabase(path: string): Db {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('busy_timeout = 2000');
  useWal(db);
  db.exec(SCHEMA);
  migrate(db);
  return db;
}

/**
 * Brings a database made by an earlier version up to this schema, in one write transaction (so two
 * replicas opening the file at once do not both alter it).
 */
function migrate(db: Db): void {
  const columns = db.prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)');
  db.transaction(() => {
    // 0.2: the inbox counts the chunks that arrived, so one out of order (or twice) is refused.
    if (!columns.all('inbox').some((column) => column.name === 'received')) {
      db.exec('ALTER TABLE inbox ADD COLUMN received INTEGER NOT NULL DEFAULT 0');
    }
  }).immediate();
}

/**
 * Switches the file to WAL (once; it stays so). Two processes opening a new file at once can deadlock
 * on the switch, and SQLite then answers SQLITE_BUSY at once instead of waiting: try again shortly.
 */
function useWal(db: Db): void {
  for (let attempt = 1; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || attempt === 100) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** Small typed accessors on the `settings` table. */
export interface Settings {
  get(name: string): string | null;
  /** The stored value, or `value` stored now: replicas starting at once on one file agree on one. */
  init(name: string, value: string): string;
  /** Stores `value`; `null` removes the setting. */
  set(name: string, value: string | null): void;
}

export function settings(db: Db): Settings {
  const get = db.prepare<[string], { value: string | null }>('SELECT value FROM settings WHERE name = ?');
  const put = db.prepare(
    'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
  );
  const del = db.prepare('DELETE FROM settings WHERE name = ?');
  const add = db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING');
  return {
    get: (name) => get.get(name)?.value ?? null,
    init: (name, value) => {
      add.run(name, value);
      // Just inserted, or there before: the row exists, and `value` was never null.
      return get.get(name)?.value ?? value;
    },
    set: (name, value) => {
      if (value === null) del.run(name);
      else put.run(name, value);
    },
  };
}
