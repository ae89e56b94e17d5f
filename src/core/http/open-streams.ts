import { errorMessage } from '../../protocol/errors.js';
import { type DeniedReason, STREAM_EVENT } from '../../protocol/wire.js';
import type { EndpointInstrumentation } from '../instrumentation.js';
import { encodeSseMessage } from '../sse.js';
import type { JobStream, StreamCloseReason } from '../stream.js';
import type { Principal } from './principal.js';

/** What the endpoint keeps of each open stream. */
interface OpenStream<Context> {
  /** Who opened it, copied then; null on anonymous endpoints. */
  principal: Principal | null;
  /** What `authorize` received then; re-checks pass it again. */
  context: Context;
  /** A re-check is waiting on `authorize`. */
  checking: boolean;
}

export interface OpenStreamsOptions<Context> {
  heartbeatMs: number;
  /** `0`: no re-checks. */
  reauthorizeMs: number;
  maxPerPrincipal: number;
  /** `authorize`, its answer checked; null on anonymous endpoints. */
  authorize: ((context: Context) => Promise<Principal | null>) | null;
  /** Where a re-check that throws is reported. */
  report(error: Error): void;
  /** Told when a stream opens and closes. */
  hooks?: EndpointInstrumentation;
}

/**
 * The open streams of one endpoint: how many each principal holds, the heartbeat they share, and the
 * periodic re-check of `authorize` that ends a stream whose login ended. One timer of each kind for
 * every stream, running only while a stream is open.
 */
export class OpenStreams<Context> {
  readonly #options: OpenStreamsOptions<Context>;
  readonly #streams = new Map<JobStream, OpenStream<Context>>();
  readonly #byPrincipal = new Map<string, number>();
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  #reauthorizeTimer: ReturnType<typeof setInterval> | null = null;

  constructor(options: OpenStreamsOptions<Context>) {
    this.#options = options;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Whether `principal` holds as many streams as it may (anonymous endpoints count everybody as one). */
  isFull(principal: Principal | null): boolean {
    return (this.#byPrincipal.get(principal?.id ?? '') ?? 0) >= this.#options.maxPerPrincipal;
  }

  /** Counts a new stream until it closes; `context` is what `authorize` saw, for re-checks. */
  add(stream: JobStream, principal: Principal | null, context: Context): void {
    const key = principal?.id ?? '';
    const opener = principal && { id: principal.id, scopes: [...principal.scopes] };
    this.#streams.set(stream, { principal: opener, context, checking: false });
    this.#byPrincipal.set(key, (this.#byPrincipal.get(key) ?? 0) + 1);
    const hooks = this.#options.hooks;
    hooks?.streamOpened?.();
    if (!this.#heartbeatTimer) {
      this.#heartbeatTimer = setInterval(() => this.#beat(), this.#options.heartbeatMs);
      this.#heartbeatTimer.unref?.();
    }
    if (!this.#reauthorizeTimer && principal && this.#options.reauthorizeMs > 0) {
      this.#reauthorizeTimer = setInterval(() => this.#reauthorizeAll(), this.#options.reauthorizeMs);
      this.#reauthorizeTimer.unref?.();
    }
    stream.onClose(() => {
      hooks?.streamClosed?.(stream.closeReason ?? 'server-closed');
      this.#streams.delete(stream);
      const left = (this.#byPrincipal.get(key) ?? 1) - 1;
      if (left > 0) this.#byPrincipal.set(key, left);
      else this.#byPrincipal.delete(key);
      if (this.#streams.size > 0) return;
      if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
      if (this.#reauthorizeTimer) clearInterval(this.#reauthorizeTimer);
      this.#heartbeatTimer = null;
      this.#reauthorizeTimer = null;
    });
  }

  /** Ends every open stream; clients reconnect and resume. */
  closeAll(reason: StreamCloseReason): void {
    for (const stream of [...this.#streams.keys()]) stream.close(reason);
  }

  /** Ends the streams of one principal, each with a final `denied` event (`unauthorized`): a logout. */
  denyPrincipal(principalId: string): void {
    for (const [stream, { principal }] of [...this.#streams]) {
      if (principal?.id === principalId) deny(stream, 'unauthorized');
    }
  }

  #beat(): void {
    const frame = encodeSseMessage({
      event: STREAM_EVENT.heartbeat,
      data: JSON.stringify({ at: new Date().toISOString() }),
    });
    for (const stream of this.#streams.keys()) stream.heartbeat(frame);
  }

  #reauthorizeAll(): void {
    for (const [stream, open] of this.#streams) void this.#reauthorize(stream, open);
  }

  /**
   * Runs `authorize` again for one open stream; never rejects. Its login ended (null, or another principal) →
   * `unauthorized`; it lost a scope the stream shows, or holds none → `forbidden`. A throw leaves the
   * stream open: a session store that blinks must not drop every admin at once.
   */
  async #reauthorize(stream: JobStream, open: OpenStream<Context>): Promise<void> {
    const { principal, context } = open;
    const { authorize } = this.#options;
    // A check still waiting on a slow authorize is not stacked with another.
    if (!authorize || !principal || open.checking) return;
    open.checking = true;
    let now: Principal | null;
    try {
      now = await authorize(context);
    } catch (error) {
      this.#options.report(
        new Error(`re-checking a stream's authorization failed: ${errorMessage(error)}`, { cause: error }),
      );
      return;
    } finally {
      open.checking = false;
    }
    if (stream.closed) return;
    if (now === null || now.id !== principal.id) deny(stream, 'unauthorized');
    else if (now.scopes.length === 0 || !principal.scopes.every((scope) => now.scopes.includes(scope))) {
      deny(stream, 'forbidden');
    }
  }
}

/** Ends a stream with a final `denied` event: the client should not reconnect as it is. */
function deny(stream: JobStream, reason: DeniedReason): void {
  stream.close('denied', encodeSseMessage({ event: STREAM_EVENT.denied, data: JSON.stringify({ reason }) }));
}
