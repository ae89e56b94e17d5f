/** One dispatched Server-Sent Events message. `id` is this message's own `id:` field, if it had one. */
export interface SseMessage {
  event: string | undefined;
  data: string;
  id: string | undefined;
}

/**
 * A Server-Sent Events parser (the "event stream" interpretation of the HTML Living Standard,
 * §9.2.6), small on purpose: it is most of what the browser bundle would otherwise spend on a
 * general-purpose one. Feed it text as it arrives, cut anywhere (decoded by a `TextDecoder`, which
 * already drops a leading byte order mark); it calls `onMessage` per message and
 * `onRetry` per valid `retry:` line. Unlike `EventSource`, a message's `id` is its own field only, not
 * the last one seen: the feed must know which messages carry a resume point.
 *
 * Returns `feed(text)`, which returns false (and drops what it buffered) once an unterminated line and
 * the message being built exceed `maxSize` characters; the caller then ends the stream.
 */
export function createSseParser(
  onMessage: (message: SseMessage) => void,
  onRetry: (ms: number) => void,
  maxSize: number,
): (text: string) => boolean {
  /** Text after the last complete line; a trailing CR waits here in case an LF follows. */
  let pending = '';
  let event: string | undefined;
  let data: string | undefined;
  let id: string | undefined;

  const line = (text: string) => {
    if (text === '') {
      if (data !== undefined) onMessage({ event, data, id });
      event = data = id = undefined;
      return;
    }
    const colon = text.indexOf(':');
    if (colon === 0) return; // A comment.
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(text[colon + 1] === ' ' ? colon + 2 : colon + 1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value || undefined;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  };

  return (chunk) => {
    const text = pending + chunk;
    // A CR at the very end may be the first half of a CRLF: keep it until the next chunk says.
    const cut = text.endsWith('\r') ? text.length - 1 : text.length;
    const lines = text.slice(0, cut).split(/\r\n|\r|\n/);
    pending = (lines.pop() as string) + text.slice(cut);
    for (const each of lines) line(each);
    if (pending.length + (data?.length ?? 0) > maxSize) {
      pending = '';
      event = data = id = undefined;
      return false;
    }
    return true;
  };
}
