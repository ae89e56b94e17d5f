// The fetch handler's later examples: the registry and your lookup from the first one.
import { createJobsHandler, type JobRegistry, type Principal } from 'realtime-jobs';

declare const jobs: JobRegistry;
declare function principalFromCookie(cookie: string | null): Principal | null;
