// The OpenTelemetry page's Express fragment: an app, a store and authorize from the pages before.
import type { Express, Request } from 'express';
import type { JobStore, Principal } from 'realtime-jobs';

declare const app: Express;
declare const store: JobStore;
declare function authorize(req: Request): Principal | null;
