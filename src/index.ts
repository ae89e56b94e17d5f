// The root entry: the registry, the routes and the wire vocabulary, on any JavaScript runtime.
// Stores that need a runtime of their own live in their own entries (`realtime-jobs/jsonl`).

export type { JobFilter } from './core/filter.js';
export {
  type Authorize,
  type AuthorizeAction,
  createJobsEndpoint,
  type JobsEndpoint,
  type JobsHandlerOptions,
  type JobsRequest,
  type JobsResponse,
  type Principal,
  STREAM_HEADERS,
} from './core/http/endpoint.js';
export { createJobsHandler, type FetchHandlerOptions, type JobsHandler } from './core/http/fetch-handler.js';
export {
  createJobRegistry,
  type JobContext,
  type JobEvent,
  type JobPage,
  type JobRegistry,
  type JobRegistryOptions,
  type JobWork,
  type ListOptions,
  type ListPosition,
  type PageOptions,
  RESTART_MESSAGE,
  type RegistryHealth,
  type Replay,
  type RunOptions,
  SHUTDOWN_MESSAGE,
} from './core/registry.js';
export { encodeSseMessage, formatSseMessage, type SseMessage } from './core/sse.js';
export type { JobStore, StoreContext, StoreHealth, StoreLoad } from './core/store.js';
export type { JobStream, StreamSink } from './core/stream.js';
export type { EnqueueInput, JobPatch } from './core/validate.js';
export { type HttpErrorCode, isJobsError, JobsError, type JobsErrorCode } from './protocol/errors.js';
export {
  BUSY_STATES,
  canTransition,
  DEFAULT_LIMITS,
  isBusy,
  isTerminal,
  JOB_STATES,
  type Job,
  type JobLimits,
  type JobState,
  type JsonObject,
  type JsonValue,
  TERMINAL_STATES,
} from './protocol/job.js';
export {
  ACTION_PROOF_HEADER,
  type EventId,
  JOB_ACTIONS,
  type JobAction,
  MAX_JOB_IDS,
  parseEventId,
  STREAM_EVENT,
} from './protocol/wire.js';
export { memoryStore } from './stores/memory.js';
