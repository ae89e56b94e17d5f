// realtime-jobs/testing: the conformance suite a JobStore must pass, for any test runner.
export {
  type StoreConformanceCase,
  type StoreConformanceStorage,
  type StoreConformanceTarget,
  storeConformanceCases,
} from './store-conformance.js';
