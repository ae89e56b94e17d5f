// Bun's server, as far as the example uses it (Bun's own types are not installed here), and your lookup.
import type { Principal } from 'realtime-jobs';

declare const Bun: {
  serve(options: { port: number; idleTimeout: number; fetch(request: Request): Response | Promise<Response> }): unknown;
};
declare function principalFor(request: Request): Principal | null;
