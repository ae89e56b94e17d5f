// Plain node:http: your lookup of the user behind a request.
import type { IncomingMessage } from 'node:http';
import type { Principal } from 'realtime-jobs';

declare function principalFor(req: IncomingMessage): Principal | null;
