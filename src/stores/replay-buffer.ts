import type { JobEvent } from '../core/store.js';

/**
 * The newest events of a single-process store, for `Last-Event-ID` replay: a ring of fixed size, so
 * recording an event costs O(1) however full it is.
 */
export class ReplayBuffer {
  readonly #events: Array<JobEvent | undefined>;
  readonly #positions: number[];
  /** Where the next event goes. */
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#events = new Array(capacity);
    this.#positions = new Array(capacity).fill(0);
  }

  /** Records an event at `position` (positions only increase). */
  push(position: number, event: JobEvent): void {
    if (this.capacity === 0) return;
    this.#events[this.#next] = event;
    this.#positions[this.#next] = position;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** The position of the oldest event held, or null when empty. */
  oldest(): number | null {
    return this.#size === 0 ? null : (this.#positions[this.#index(0)] as number);
  }

  /** Every event after `position`, oldest first. */
  since(position: number): JobEvent[] {
    const events: JobEvent[] = [];
    // Newest first until one is not newer, then reverse: a resume is usually a few events behind.
    for (let back = this.#size - 1; back >= 0; back--) {
      const at = this.#index(back);
      if ((this.#positions[at] as number) <= position) break;
      events.push(this.#events[at] as JobEvent);
    }
    return events.reverse();
  }

  clear(): void {
    this.#events.fill(undefined);
    this.#size = 0;
    this.#next = 0;
  }

  /** The ring index of the `n`-th oldest event. */
  #index(n: number): number {
    return (this.#next - this.#size + n + this.capacity) % this.capacity;
  }
}
