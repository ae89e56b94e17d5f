export { isJobsError, JobsError, type JobsErrorCode } from './core/errors.js';
export { createJobsHandler, type FetchHandlerOptions, type JobsHandler } from './core/fetch-handler.js';
export { type JobFilter, MAX_JOB_IDS } from './core/filter.js';
export {
  type Authorize,
  createJobsEndpoint,
  type ErrorCode,
  type JobsEndpoint,
  type JobsHandlerOptions,
  type JobsRequest,
  type JobsResponse,
  type Principal,
  STREAM_HEADERS,
} from './core/http.js';
export {
  BUSY_STATES,
  canTransition,
  DEFAULT_LIMITS,
  type EnqueueInput,
  isBusy,
  isTerminal,
  JOB_STATES,
  type Job,
  type JobLimits,
  type JobPatch,
  type JobState,
  type JsonObject,
  type JsonValue,
  TERMINAL_STATES,
} from './core/job.js';
export { type JsonlStoreOptions, jsonlStore } from './core/jsonl-store.js';
export {
  createJobRegistry,
  type JobContext,
  type JobEvent,
  type JobRegistry,
  type JobRegistryOptions,
  type JobWork,
  type ListOptions,
  RESTART_MESSAGE,
  type RegistryHealth,
  type Replay,
  type RunOptions,
  SHUTDOWN_MESSAGE,
} from './core/registry.js';
export { encodeSseMessage, formatSseMessage, type SseMessage } from './core/sse.js';
export {
  createEventIdSequence,
  type EventIdSequence,
  type JobStore,
  memoryStore,
  parseEventId,
  type StoreContext,
  type StoreHealth,
  type StoreLoad,
} from './core/store.js';
export { encodeJobEvent, JobStream, type StreamOptions, type StreamSink } from './core/stream.js';
