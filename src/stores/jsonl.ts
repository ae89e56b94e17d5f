import { resolve } from 'node:path';
import { booleanOption, integerOption, timerOption } from '../core/options.js';
import type { JobStore, StoreLoad } from '../core/store.js';
import { JobsError } from '../protocol/errors.js';
import type { Job, LogLine } from '../protocol/job.js';
import { createLogFile, type LogFile } from './jsonl/log-file.js';
import { LocalState } from './local-state.js';

export interface JsonlStoreOptions {
  /** The log file. Its folder is created when missing (and again if it is deleted); `<path>.lock` guards it. */
  path: string;
  /**
   * Compaction keeps the file near this many lines: past it (and past twice the number of jobs held),
   * the newest snapshot of each job is written to a temporary file that is renamed over the log.
   * @default 500
   */
  maxLines?: number;
  /** How long to wait before writing again after the disk failed. @default 1000 */
  retryMs?: number;
  /**
   * How often to check that the log file is still in place. A deleted folder or a moved file is
   * reported, the folder re-created and the whole state rewritten. @default 1000
   */
  checkMs?: number;
  /**
   * fdatasync every batch (and the folder after a compaction), so what `flush()` reported written
   * survives a power loss or an OS crash, not only a crash of the process. Costs throughput: see
   * docs/performance.md. @default false
   */
  fsync?: boolean;
  /** How many recent events are kept for `Last-Event-ID` replay. @default 1000 */
  replayBufferSize?: number;
}

/**
 * A JSONL log: one job snapshot per line, appended in batches once per tick, off the caller's path.
 * A failing disk never throws into the registry: snapshots stay in memory, the fault is reported,
 * and the whole state is rewritten when the disk recovers.
 *
 * @example
 * const jobs = await createJobRegistry({ store: jsonlStore({ path: 'data/realtime_jobs.jsonl' }) });
 */
export function jsonlStore(options: JsonlStoreOptions): JobStore {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'jsonlStore: options must be an object with a `path`');
  }
  if (typeof options.path !== 'string' || options.path.trim() === '') {
    throw new JobsError('invalid_options', 'jsonlStore: `path` must be a non-empty string', { field: 'path' });
  }
  const maxLines = integerOption('jsonlStore', 'maxLines', options.maxLines, 500, 1);
  const retryMs = timerOption('jsonlStore', 'retryMs', options.retryMs, 1000, 1);
  const checkMs = timerOption('jsonlStore', 'checkMs', options.checkMs, 1000, 1);
  const fsync = booleanOption('jsonlStore', 'fsync', options.fsync, false);
  const replayBufferSize = integerOption('jsonlStore', 'replayBufferSize', options.replayBufferSize, 1000, 0);
  const path = resolve(options.path);
  const label = `jsonlStore(${path})`;

  let log: LogFile<LogRecord> | null = null;
  const state = new LocalState(replayBufferSize);
  let keepLines = 0;
  let closed = false;
  let closing: Promise<void> | null = null;
  const openLog = (): LogFile<LogRecord> => {
    if (!log || !state.isOpen || closed) throw new JobsError('closed', `${label} is not open`);
    return log;
  };

  return {
    kind: 'jsonl',
    async open(context) {
      if (log) throw new JobsError('invalid_options', `${label} is already open`);
      keepLines = context.logLines;
      const opening = createLogFile<LogRecord>({
        path,
        label,
        maxLines,
        retryMs,
        checkMs,
        fsync,
        key: recordKey,
        // A line holds a job snapshot, or `{"log": …}`: one line of a job's log.
        parse: (value) =>
          isLogValue(value)
            ? { log: { ...context.parseLogLine(withoutJobId(value.log)), jobId: jobIdOf(value.log) } }
            : context.parseJob(value),
        replaces: (next, held) => 'log' in next || 'log' in held || held.version <= next.version,
        onError: context.onError,
      });
      log = opening;
      try {
        const loaded = await opening.open();
        const jobs: Job[] = [];
        const lines: Array<LogLine & { jobId: string }> = [];
        for (const record of loaded.records) {
          if ('log' in record) lines.push(record.log);
          else jobs.push(record);
        }
        const { head, orphans } = state.open(context, jobs, lines);
        return {
          jobs: [...state.jobs.values()],
          logs: Object.fromEntries(state.logs),
          head,
          orphans,
          skipped: loaded.skipped,
          repaired: loaded.repaired,
        } satisfies StoreLoad;
      } catch (error) {
        log = null;
        throw error;
      }
    },
    async create(job, options) {
      const file = openLog();
      const result = state.create(job, options);
      if (result.created) file.put(job);
      return result;
    },
    async write(job, options) {
      const file = openLog();
      const result = state.write(job, options);
      if (result.ok) file.put(job);
      return result;
    },
    async appendLog(job, line) {
      const file = openLog();
      const event = state.appendLog(job, line, keepLines);
      const added = event.log as LogLine;
      file.put({ log: { ...added, jobId: job.id } });
      // The line that fell out of the kept window leaves the file at the next compaction.
      if (added.seq > keepLines) file.delete([`${job.id}#${added.seq - keepLines}`]);
      return event;
    },
    async eventsSince(lastEventId) {
      openLog();
      return state.eventsSince(lastEventId);
    },
    async remove(removed) {
      // Pruned jobs leave the file at the next compaction (at the latest, on close). Were the process
      // to die first, the registry prunes them again when it loads them.
      const keys: string[] = [];
      for (const id of removed) {
        keys.push(id);
        for (const line of state.logs.get(id) ?? []) keys.push(`${id}#${line.seq}`);
      }
      state.remove(removed);
      log?.delete(keys);
    },
    async flush() {
      await log?.flush();
    },
    close() {
      if (!log || !state.isOpen) return Promise.resolve();
      // Writes stay accepted until the log has flushed: closing listeners may still record something.
      closing ??= log.close().finally(() => {
        closed = true;
        state.close();
      });
      return closing;
    },
    health() {
      return log ? log.health() : { ok: true, error: null, pendingWrites: 0, skipped: 0 };
    },
  };
}

/** What one line of the file holds: a job snapshot, or one line of a job's log. */
type LogRecord = Job | { log: LogLine & { jobId: string } };

function recordKey(record: LogRecord): string {
  return 'log' in record ? `${record.log.jobId}#${record.log.seq}` : record.id;
}

function isLogValue(value: unknown): value is { log: Record<string, unknown> } {
  return typeof value === 'object' && value !== null && 'log' in value && Object.keys(value).length === 1;
}

function jobIdOf(log: Record<string, unknown>): string {
  if (typeof log.jobId !== 'string' || log.jobId === '') throw new Error('a log line without its job id');
  return log.jobId;
}

function withoutJobId(log: Record<string, unknown>): Record<string, unknown> {
  const { jobId: _jobId, ...line } = log;
  return line;
}
