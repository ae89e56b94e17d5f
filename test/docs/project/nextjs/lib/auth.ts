// `@/lib/auth` of the Next.js example: the app's own session lookup and action rule.
import type { Job, JobAction, Principal } from 'realtime-jobs';

export declare function principalFor(request: Request): Principal | null;
export declare function mayAct(principal: Principal | null, action: JobAction, job: Job): boolean;
