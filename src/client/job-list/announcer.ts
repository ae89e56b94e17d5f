/**
 * What a list's polite live region says: one short sentence at most every `intervalMs`, however fast
 * jobs change, so a busy list informs a screen reader user without drowning them. Each job's latest
 * news replaces its earlier one within a window; past three jobs the sentence counts them.
 */
export class Announcer {
  /** The live region's text. */
  text = '';
  readonly #messages = new Map<string, string>();
  readonly #render: () => void;
  readonly #intervalMs: number;
  #last = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(render: () => void, intervalMs = 3000) {
    this.#render = render;
    this.#intervalMs = intervalMs;
  }

  /** Queues `message` about `key` (a job id), replacing what was queued about it. */
  say(key: string, message: string): void {
    this.#messages.delete(key);
    this.#messages.set(key, message);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#flush(), Math.max(0, this.#last + this.#intervalMs - Date.now()));
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#messages.clear();
  }

  #flush(): void {
    this.#timer = undefined;
    const text = summarize([...this.#messages.values()]);
    this.#messages.clear();
    this.#last = Date.now();
    // The same words twice would not be read again: a no-break space makes them new.
    this.text = text === this.text ? `${text}\u00a0` : text;
    this.#render();
  }
}

/** One sentence from a window's messages (oldest first). */
export function summarize(messages: readonly string[]): string {
  if (messages.length <= 3) return messages.join(' ');
  return `${messages.length} jobs changed. Latest: ${messages.at(-1)}`;
}
