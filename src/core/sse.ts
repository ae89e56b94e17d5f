import { JobsError } from '../protocol/errors.js';

/** One Server-Sent Events message. Every field is optional; a message with none is a bare blank line. */
export interface SseMessage {
  /** The event type (`event:`). Must not hold CR, LF or NUL. */
  event?: string;
  /** The event id (`id:`). Must not hold CR, LF or NUL. */
  id?: string;
  /** The payload; split into one `data:` line per line, on CR, LF and CRLF alike. */
  data?: string;
  /** Reconnection delay in milliseconds (`retry:`). */
  retry?: number;
  /** A comment line (`: …`), ignored by clients; useful to pad or keep a connection warm. */
  comment?: string;
}

const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

/**
 * Formats one SSE message as the text that goes on the wire, ending with the blank line that
 * dispatches it. A pure function: the same message always gives the same text.
 *
 * Implements the "event stream" interpretation of the HTML Living Standard, §9.2.6: a field value
 * cannot carry a line break, so `data` is split into several `data:` lines (the client joins them with
 * LF), and a line break or NUL in `event` or `id` is refused, since it would end the field early and
 * let the rest of the value forge fields of its own.
 *
 * @example
 * formatSseMessage({ event: 'job-update', id: 'k3x-7', data: '{"a":1}' })
 * // → 'id: k3x-7\nevent: job-update\ndata: {"a":1}\n\n'
 */
export function formatSseMessage(message: SseMessage): string {
  let text = '';
  if (message.comment !== undefined) {
    for (const line of String(message.comment).split(LINE_BREAK)) text += `: ${line}\n`;
  }
  if (message.retry !== undefined) {
    if (!Number.isSafeInteger(message.retry) || message.retry < 0) {
      throw new JobsError('invalid_input', 'SSE `retry` must be a non-negative integer', { field: 'retry' });
    }
    text += `retry: ${message.retry}\n`;
  }
  if (message.id !== undefined) text += `id: ${checkField(message.id, 'id')}\n`;
  if (message.event !== undefined) text += `event: ${checkField(message.event, 'event')}\n`;
  if (message.data !== undefined) {
    for (const line of String(message.data).split(LINE_BREAK)) text += `data: ${line}\n`;
  }
  return `${text}\n`;
}

function checkField(value: string, field: 'id' | 'event'): string {
  if (typeof value !== 'string') {
    throw new JobsError('invalid_input', `SSE \`${field}\` must be a string`, { field });
  }
  if (FORBIDDEN_IN_FIELD.test(value)) {
    throw new JobsError('invalid_input', `SSE \`${field}\` must not contain CR, LF or NUL`, { field });
  }
  return value;
}

const encoder = new TextEncoder();

/** {@link formatSseMessage}, encoded as UTF-8 bytes. */
export function encodeSseMessage(message: SseMessage): Uint8Array {
  return encoder.encode(formatSseMessage(message));
}
