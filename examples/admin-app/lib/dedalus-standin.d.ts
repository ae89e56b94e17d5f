/** A local stand-in for the Dedalus API's `GET /v1/models` (see dedalus-standin.js). */
export function startDedalusStandIn(options: {
  port?: number;
  host?: string;
  keys: string[];
  delayMs?: number;
}): Promise<{ url: string; close(): Promise<void> }>;
