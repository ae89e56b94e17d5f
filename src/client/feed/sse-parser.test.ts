import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSseParser, type SseMessage } from './sse-parser.js';

/** Feeds `chunks` to the feed's parser; what it dispatched, and the `retry:` values. */
function ours(chunks: string[], maxSize = 1 << 20) {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const feed = createSseParser(
    (message) => messages.push(message),
    (ms) => retries.push(ms),
    maxSize,
  );
  const accepted = chunks.map((chunk) => feed(chunk));
  return { messages, retries, accepted };
}

/** The same through eventsource-parser, the general-purpose parser the server's tests use. */
function reference(chunks: string[]) {
  const messages: EventSourceMessage[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (event) => messages.push(event), onRetry: (ms) => retries.push(ms) });
  for (const chunk of chunks) parser.feed(chunk);
  return { messages: messages.map(({ id, event, data }) => ({ event, data, id })), retries };
}

describe('the feed’s SSE parser', () => {
  it('reads messages, ids, multi-line data, comments and retry', () => {
    const { messages, retries } = ours([
      ': a comment\nretry: 2500\n\nid: e-1\nevent: job-update\ndata: {"a":1}\n\n',
      'event: ready\ndata: one\ndata: two\n\ndata\n\nretry: soon\nid: bad\0id\ndata:x\n\n',
    ]);
    expect(retries).toEqual([2500]);
    expect(messages).toEqual([
      { id: 'e-1', event: 'job-update', data: '{"a":1}' },
      { id: undefined, event: 'ready', data: 'one\ntwo' },
      { id: undefined, event: undefined, data: '' },
      { id: undefined, event: undefined, data: 'x' },
    ]);
  });

  it('gives each message its own id only, not the last one seen', () => {
    const { messages } = ours(['id: h-1\ndata: a\n\ndata: b\n\n']);
    expect(messages.map((message) => message.id)).toEqual(['h-1', undefined]);
  });

  it('takes LF, CR and CRLF line ends, and a CRLF split between chunks', () => {
    const { messages } = ours(['data: a\r', '\n\r\ndata: b\rdata: c\r\r', 'data: d\n', '\n']);
    expect(messages.map((message) => message.data)).toEqual(['a', 'b\nc', 'd']);
  });

  it('never sees a byte order mark: the stream reader’s TextDecoder drops it', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('data: a\n\n')]);
    expect(ours([new TextDecoder().decode(bytes)]).messages.map((message) => message.data)).toEqual(['a']);
  });

  it('refuses a message or line growing past maxSize, and parses again from the next line', () => {
    const { messages, accepted } = ours(['data: ok\n\ndata: ', 'x'.repeat(60), 'x'.repeat(60)], 100);
    expect(accepted).toEqual([true, true, false]);
    expect(messages.map((message) => message.data)).toEqual(['ok']);
    const long = ours([`data: ${'y'.repeat(40)}\ndata: ${'y'.repeat(40)}\ndata: ${'y'.repeat(40)}\n`], 100);
    expect(long.accepted).toEqual([false]);
  });

  it('reads any text, cut anywhere, exactly as eventsource-parser does', () => {
    const piece = fc.constantFrom(
      '\n',
      '\r',
      '\r\n',
      ':',
      ' ',
      'data',
      'data:',
      'data: ',
      'event:',
      'event: job-update',
      'id:',
      'id: k3x-7',
      'retry:',
      'retry: 20',
      '\u0000',
      'é',
      'x',
      '{"a":1}',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (pieces, cuts) => {
        const text = pieces.join('');
        const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let start = 0;
        for (const point of [...points, text.length]) {
          if (point > start) chunks.push(text.slice(start, point));
          start = Math.max(start, point);
        }
        // eventsource-parser holds a chunk-final CR until a later chunk with a line break comes
        // (ours settles it with the next chunk): a last line break settles both.
        chunks.push('\n');
        const { messages, retries } = ours(chunks);
        expect({ messages, retries }).toEqual(reference(chunks));
      }),
      { numRuns: 2000 },
    );
  });
});
