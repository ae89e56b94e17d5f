import type { JobContext, JobDefinitionOptions, JobRegistry, JobWork, JsonObject } from 'realtime-jobs';
import { type CheckResult, DEDALUS_TARGET, type DedalusService, type SaveInput, type VerifyInput } from './dedalus.js';
import type { PullInput, PushInput, Sync, SyncInput, SyncResult } from './sync/index.js';

/**
 * Every kind of job the app runs, registered once at start-up (on every replica of a peer): how each
 * runs, how many at once, for how long, whether a failure is tried again, and what an approval does.
 * The work is in `sync/push-pull.ts` and `dedalus.ts`; pages start jobs with `jobs.run(category, input, …)`.
 */
export function defineJobs(jobs: JobRegistry, { sync, dedalus }: { sync: Sync; dedalus: DedalusService }) {
  const transfer: JobDefinitionOptions<SyncInput, SyncResult> = {
    target: (input) => ({ peer: input.peer }),
    // One push (and one pull) per peer at a time, whoever starts it and on whichever replica: the slot
    // is kept by the job store. Another push to that peer waits, `queued`; other peers run meanwhile.
    concurrency: 1,
    concurrencyPer: 'target',
    // Per attempt. Each step is a pause of SYNC_PACE_MS and a call of at most SYNC_PEER_TIMEOUT_MS (5 s): a dataset of a
    // thousand records takes about a minute at the default pace.
    timeoutMs: 5 * 60_000,
    // Tried again (after 1 s, then 2 s): every attempt opens a new transfer from scratch, and applying
    // is INSERT OR IGNORE, so an attempt that ran again after its answer was lost adds nothing twice.
    // What fails most is a peer that is restarting or briefly unreachable, which a retry outlives. A
    // bundle held for approval is no failure, so it is never sent again.
    retries: 2,
    backoff: { delayMs: 1000, factor: 2 },
    // Approve: the held bundle is applied (here for a pull, on the peer for a push), with the job's
    // signal and this timeout; a failure ends the job `error`. Reject: the bundle is discarded.
    onApprove: logFailures((ctx) => sync.applyApproved(ctx)),
    onReject: (job) => sync.discard(job),
  };
  const dedalusCall = {
    target: () => DEDALUS_TARGET,
    // Three SDK requests of at most 10 s each (see `maxRetries` in dedalus.ts), with their backoff.
    timeoutMs: 45_000,
    // No retries here: the SDK retries what may pass; what remains (a refused key, a service down
    // after three tries) would only fail again, while the admin who clicked waits for the answer.
    retries: 0,
  };
  return {
    push: jobs.define<PushInput, SyncResult>('sync-push', logFailures(sync.push), transfer),
    pull: jobs.define<PullInput, SyncResult>('sync-pull', logFailures(sync.pull), transfer),
    dedalusSave: jobs.define<SaveInput, CheckResult>('dedalus-save', logFailures(dedalus.save), dedalusCall),
    dedalusVerify: jobs.define<VerifyInput, CheckResult>('dedalus-verify', logFailures(dedalus.verify), dedalusCall),
  };
}

/**
 * The work, with each failed attempt's reason written to the job's log (the job's message keeps only
 * the last). Lines written after a cancel or a timeout are dropped by the library: the job says why.
 */
function logFailures<Input extends JsonObject, Result extends JsonObject>(
  work: (ctx: JobContext<Input, Result>) => Promise<Result>,
): JobWork<Input, Result> {
  return async (ctx) => {
    const what = ctx.approval ? 'Applying the approved bundle' : `Attempt ${ctx.attempt}`;
    if (!ctx.approval && ctx.attempt > 1) ctx.log(`Attempt ${ctx.attempt} of ${ctx.job.maxAttempts}`);
    try {
      return await work(ctx);
    } catch (error) {
      ctx.log(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, { level: 'error' });
      throw error;
    }
  };
}
