import { DEDALUS_CATEGORIES } from './dedalus.js';
import { SYNC_CATEGORIES } from './sync.js';

/**
 * Keeps the sync activity log and the Dedalus run log in SQLite, fed by the registry's own change
 * events: whatever starts or ends a job (a click, an approval, a restart), the logs follow.
 */
export function recordLogs(db, jobs) {
  const upsertActivity = db.prepare(
    `INSERT INTO sync_activity (job_id, direction, peer, started_at, state, message, records, finished_at)
     VALUES (@id, @direction, @peer, @queuedAt, @state, @message, @records, @finishedAt)
     ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, message = excluded.message,
       records = excluded.records, finished_at = excluded.finished_at`,
  );
  const upsertRun = db.prepare(
    `INSERT INTO dedalus_runs (job_id, trigger, started_at, outcome, duration_ms, models, error)
     VALUES (@id, @trigger, @queuedAt, @state, @duration, @models, @error)
     ON CONFLICT (job_id) DO UPDATE SET outcome = excluded.outcome, duration_ms = excluded.duration_ms,
       models = excluded.models, error = excluded.error`,
  );

  const record = (job) => {
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
function numberIn(job, field) {
  const value = job.result?.[field];
  return typeof value === 'number' ? value : null;
}

export function activity(db, limit = 20) {
  return db.prepare('SELECT * FROM sync_activity ORDER BY started_at DESC LIMIT ?').all(limit);
}

export function dedalusRuns(db, limit = 100) {
  return db.prepare('SELECT * FROM dedalus_runs ORDER BY started_at DESC LIMIT ?').all(limit);
}
