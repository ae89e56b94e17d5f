import type { Job, JobRegistry } from 'realtime-jobs';
import type { Db } from './db.js';
import { DEDALUS_CATEGORIES } from './dedalus.js';
import { SYNC_CATEGORIES } from './sync/index.js';

/** A row of the sync activity log: one per push or pull job, updated as the job changes. */
export interface ActivityRow {
  job_id: string;
  direction: 'push' | 'pull';
  peer: string;
  started_at: string;
  /** The job's state (a `JobState`), as stored. */
  state: string;
  message: string | null;
  records: number | null;
  finished_at: string | null;
}

/** A row of the Dedalus run log: one per save or verify job. */
export interface DedalusRunRow {
  job_id: string;
  trigger: 'save' | 'verify';
  started_at: string;
  /** The job's state (a `JobState`), as stored. */
  outcome: string;
  duration_ms: number | null;
  models: number | null;
  error: string | null;
}

/**
 * Keeps the sync activity log and the Dedalus run log in SQLite, fed by the registry's own change
 * events: whatever starts or ends a job (a click, an approval, a restart), the logs follow.
 * Returns the function that stops following.
 */
export function recordLogs(db: Db, jobs: JobRegistry): () => void {
  const upsertActivity = db.prepare<
    [
      {
        id: string;
        direction: ActivityRow['direction'];
        peer: string;
        queuedAt: string;
        state: string;
        message: string | null;
        records: number | null;
        finishedAt: string | null;
      },
    ]
  >(
    `INSERT INTO sync_activity (job_id, direction, peer, started_at, state, message, records, finished_at)
     VALUES (@id, @direction, @peer, @queuedAt, @state, @message, @records, @finishedAt)
     ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, message = excluded.message,
       records = excluded.records, finished_at = excluded.finished_at`,
  );
  const upsertRun = db.prepare<
    [
      {
        id: string;
        trigger: DedalusRunRow['trigger'];
        queuedAt: string;
        state: string;
        duration: number | null;
        models: number | null;
        error: string | null;
      },
    ]
  >(
    `INSERT INTO dedalus_runs (job_id, trigger, started_at, outcome, duration_ms, models, error)
     VALUES (@id, @trigger, @queuedAt, @state, @duration, @models, @error)
     ON CONFLICT (job_id) DO UPDATE SET outcome = excluded.outcome, duration_ms = excluded.duration_ms,
       models = excluded.models, error = excluded.error`,
  );

  const record = (job: Job): void => {
    if (SYNC_CATEGORIES.includes(job.category)) {
      upsertActivity.run({
        id: job.id,
        direction: job.category === 'sync-push' ? 'push' : 'pull',
        peer: job.target.peer ?? '',
        queuedAt: job.queuedAt,
        state: job.state,
        message: job.message,
        records: numberIn(job, 'records'),
        finishedAt: job.finishedAt,
      });
    } else if (DEDALUS_CATEGORIES.includes(job.category)) {
      const started = Date.parse(job.startedAt ?? job.queuedAt);
      upsertRun.run({
        id: job.id,
        trigger: job.category === 'dedalus-save' ? 'save' : 'verify',
        queuedAt: job.queuedAt,
        state: job.state,
        duration: job.finishedAt ? Date.parse(job.finishedAt) - started : null,
        models: numberIn(job, 'models'),
        error: job.state === 'error' ? job.message : null,
      });
    }
  };

  // Catch up with what changed while no one listened (jobs ended by a restart, say), then follow.
  for (const job of jobs.list({ category: [...SYNC_CATEGORIES, ...DEDALUS_CATEGORIES], limit: 500 }).reverse()) {
    record(job);
  }
  return jobs.subscribe({ category: [...SYNC_CATEGORIES, ...DEDALUS_CATEGORIES] }, (event) => record(event.job));
}

/** A number the job's work returned (its `result`: a job held for approval has one too). */
function numberIn(job: Job, field: string): number | null {
  const value = job.result?.[field];
  return typeof value === 'number' ? value : null;
}

/** The newest rows of the sync activity log. */
export function activity(db: Db, limit = 20): ActivityRow[] {
  return db.prepare<[number], ActivityRow>('SELECT * FROM sync_activity ORDER BY started_at DESC LIMIT ?').all(limit);
}

/** The newest rows of the Dedalus run log. */
export function dedalusRuns(db: Db, limit = 100): DedalusRunRow[] {
  return db.prepare<[number], DedalusRunRow>('SELECT * FROM dedalus_runs ORDER BY started_at DESC LIMIT ?').all(limit);
}
