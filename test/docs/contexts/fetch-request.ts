// The fetch handler's first example: a request to answer, and your own lookup of its user.
import type { Principal } from 'realtime-jobs';

declare const request: Request;
declare function principalFromCookie(cookie: string | null): Principal | null;
