// Definitions: the registry, and the work the example leaves to you.
import type { JobRegistry } from 'realtime-jobs';

declare const jobs: JobRegistry;
declare function pushTo(peer: string, options: { signal: AbortSignal }): Promise<number>;
declare function applyHeldBundle(jobId: string, approvedBy: string | null | undefined): Promise<void>;
declare function discardHeldBundle(jobId: string): Promise<void>;
