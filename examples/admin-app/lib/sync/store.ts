import type { Db } from '../db.js';
import type { SyncRecord } from './protocol.js';

/** A transfer another peer pushes here, chunk by chunk, until it is verified and applied. */
export interface InboxRow {
  transfer_id: string;
  from_peer: string;
  /** How many chunks the pusher announced. */
  chunks: number;
  /** How many of them arrived, in order. */
  received: number;
  /** The records so far (JSON). */
  records: string;
  signature: string | null;
  verified: 'signed' | 'unsigned' | null;
  created_at: string;
}
/** A snapshot built for a peer's pull: its chunks (JSON), served one by one. */
export interface OutboxRow {
  transfer_id: string;
  to_peer: string;
  chunks: string;
  created_at: string;
}
/** A bundle held while its job waits for approval: the records here (pull) or the peer's transfer (push). */
export interface StagedRow {
  job_id: string;
  peer: string;
  direction: 'push' | 'pull';
  transfer_id: string | null;
  records: string;
  created_at: string;
}

/** The sync's SQL, prepared once: the dataset, the two transfer tables, held bundles and seen nonces. */
export function syncStore(db: Db) {
  const statements = {
    records: db.prepare<[], SyncRecord>(
      'SELECT id, title, body, origin, created_at FROM records ORDER BY created_at DESC, id',
    ),
    count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM records'),
    insert: db.prepare<[SyncRecord]>(
      'INSERT OR IGNORE INTO records (id, title, body, origin, created_at) VALUES (@id, @title, @body, @origin, @created_at)',
    ),
    inboxGet: db.prepare<[string], InboxRow>('SELECT * FROM inbox WHERE transfer_id = ?'),
    inboxCreate: db.prepare<[string, string, number, string]>(
      "INSERT INTO inbox (transfer_id, from_peer, chunks, received, records, created_at) VALUES (?, ?, ?, 0, '[]', ?)",
    ),
    inboxAppend: db.prepare<[string, number, string]>(
      'UPDATE inbox SET records = ?, received = ? WHERE transfer_id = ?',
    ),
    inboxVerified: db.prepare<[string, string | null, string]>(
      'UPDATE inbox SET verified = ?, signature = ? WHERE transfer_id = ?',
    ),
    inboxDelete: db.prepare<[string]>('DELETE FROM inbox WHERE transfer_id = ?'),
    inboxSweep: db.prepare<[string]>('DELETE FROM inbox WHERE created_at < ?'),
    outboxGet: db.prepare<[string], OutboxRow>('SELECT * FROM outbox WHERE transfer_id = ?'),
    outboxCreate: db.prepare<[string, string, string, string]>(
      'INSERT INTO outbox (transfer_id, to_peer, chunks, created_at) VALUES (?, ?, ?, ?)',
    ),
    outboxDelete: db.prepare<[string]>('DELETE FROM outbox WHERE transfer_id = ?'),
    outboxSweep: db.prepare<[string]>('DELETE FROM outbox WHERE created_at < ?'),
    stage: db.prepare<[string, string, 'push' | 'pull', string | null, string, string]>(
      `INSERT INTO staged_bundles (job_id, peer, direction, transfer_id, records, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    staged: db.prepare<[string], StagedRow>('SELECT * FROM staged_bundles WHERE job_id = ?'),
    unstage: db.prepare<[string]>('DELETE FROM staged_bundles WHERE job_id = ?'),
    nonceSeen: db.prepare<[string, string, number]>(
      'INSERT INTO peer_nonces (peer, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    nonceSweep: db.prepare<[number]>('DELETE FROM peer_nonces WHERE expires_at < ?'),
  };

  /** Adds the records this dataset lacks, all or none; answers how many were new. */
  const applyRecords = db.transaction((records: readonly SyncRecord[]) => {
    let added = 0;
    for (const record of records) added += statements.insert.run(record).changes;
    return added;
  });

  return {
    ...statements,
    applyRecords,
    allRecords: () => statements.records.all(),
    countRecords: () => statements.count.get()?.n ?? 0,
  };
}
export type SyncStore = ReturnType<typeof syncStore>;
