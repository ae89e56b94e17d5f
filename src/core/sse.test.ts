import { describe, expect, it } from 'vitest';
import { encodeSseMessage, formatSseMessage } from './sse.js';

describe('formatSseMessage', () => {
  it('writes id, event and data in wire order and ends with a blank line', () => {
    expect(formatSseMessage({ event: 'job-update', id: 'abc-7', data: '{"a":1}' })).toBe(
      'id: abc-7\nevent: job-update\ndata: {"a":1}\n\n',
    );
  });

  it('splits data on LF, CR and CRLF alike', () => {
    expect(formatSseMessage({ data: 'one\ntwo\rthree\r\nfour' })).toBe(
      'data: one\ndata: two\ndata: three\ndata: four\n\n',
    );
  });

  it('keeps empty lines of data, including a trailing one', () => {
    expect(formatSseMessage({ data: 'a\n\nb\n' })).toBe('data: a\ndata: \ndata: b\ndata: \n\n');
    expect(formatSseMessage({ data: '' })).toBe('data: \n\n');
  });

  it('writes retry and comments', () => {
    expect(formatSseMessage({ retry: 3000 })).toBe('retry: 3000\n\n');
    expect(formatSseMessage({ comment: 'hi\nthere' })).toBe(': hi\n: there\n\n');
  });

  it('refuses CR, LF or NUL in an event name or id, naming the field', () => {
    for (const bad of ['a\nb', 'a\rb', 'a\0b']) {
      expect(() => formatSseMessage({ event: bad, data: 'x' })).toThrow(/`event` must not contain CR, LF or NUL/);
      expect(() => formatSseMessage({ id: bad, data: 'x' })).toThrow(/`id` must not contain CR, LF or NUL/);
    }
  });

  it('refuses a retry that is not a non-negative integer', () => {
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => formatSseMessage({ retry: bad })).toThrow(/`retry`/);
  });

  it('encodes as UTF-8', () => {
    expect(Buffer.from(encodeSseMessage({ data: 'é…' })).toString('hex')).toBe(
      Buffer.from('data: é…\n\n', 'utf8').toString('hex'),
    );
  });
});
