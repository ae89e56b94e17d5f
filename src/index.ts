// The root entry: the registry, the routes and the wire vocabulary, on any JavaScript runtime.
// Stores that need a runtime of their own live in their own entries (`realtime-jobs/jsonl`).

export type { JobFilter } from './core/filter.js';
export { createJobsEndpoint, type JobsEndpoint, type JobsHandlerOptions } from './core/http/endpoint.js';
export { createJobsHandler, type FetchHandlerOptions, type JobsHandler } from './core/http/fetch-handler.js';
export type { Authorize, AuthorizeAction, Principal } from './core/http/principal.js';
export { type JobsRequest, type JobsResponse, STREAM_HEADERS } from './core/http/responses.js';
export type {
  EndpointInstrumentation,
  RegistryInstrumentation,
  StoreWrite,
  StoreWriteOperation,
} from './core/instrumentation.js';
export {
  type ActionOptions,
  createJobRegistry,
  type DefinitionRunOptions,
  type JobContext,
  type JobDefinition,
  type JobDefinitionOptions,
  type JobEvent,
  type JobPage,
  type JobRegistry,
  type JobRegistryOptions,
  type JobWork,
  LEASE_MESSAGE,
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
export type { JobStream, StreamCloseReason, StreamSink } from './core/stream.js';
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
  type JobError,
  type JobLimits,
  type JobState,
  type JsonObject,
  type JsonValue,
  LOG_LEVELS,
  type LogLevel,
  type LogLine,
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
export { type MemoryStoreOptions, memoryStore } from './stores/memory.js';
