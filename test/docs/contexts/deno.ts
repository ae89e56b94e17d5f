// Deno's server, as far as the example uses it, and your lookup. `npm:realtime-jobs` resolves to the
// package through the project's tsconfig paths.
import type { Principal } from 'realtime-jobs';

declare const Deno: {
  serve(options: { port: number }, handler: (request: Request) => Response | Promise<Response>): unknown;
};
declare function principalFor(request: Request): Principal | null;
