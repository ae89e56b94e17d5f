import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  parseCategory,
  parseExitCode,
  parseHeader,
  parseJobId,
  parseJobUrl,
  parseRoutesUrl,
  parseSeconds,
  parseTarget,
} from '../../src/cli/args.js';

/** The message of the InvalidArgumentError `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('command-line arguments', () => {
  it('reads the routes URL, dropping the query, the fragment and trailing slashes', () => {
    expect(parseRoutesUrl('http://localhost:3000/api/admin/jobs/?x=1#top')).toBe(
      'http://localhost:3000/api/admin/jobs',
    );
    expect(parseRoutesUrl('https://example.com')).toBe('https://example.com');
    expect(refusal(() => parseRoutesUrl('/api/admin/jobs'))).toMatch(/^It must be an absolute URL, e\.g\. http:/);
    expect(refusal(() => parseRoutesUrl('file:///etc/passwd'))).toMatch(/^It must be an http:\/\/ or https:\/\/ URL/);
    // fetch refuses a URL with credentials on every request: said at once, not as "cannot reach" later.
    for (const bad of ['http://admin:secret@host/jobs', 'http://admin@host/jobs']) {
      expect(refusal(() => parseRoutesUrl(bad))).toMatch(
        /^It cannot hold a user name or password: send them with --header/,
      );
      expect(refusal(() => parseJobUrl(`${bad}/abc`))).toMatch(/^It cannot hold a user name or password/);
    }
  });

  it('splits a job URL into the routes and the id', () => {
    expect(parseJobUrl('http://host:3000/api/admin/jobs/V1StGXR8_Z5jdHi6B-myT?x=1')).toEqual({
      routes: 'http://host:3000/api/admin/jobs',
      id: 'V1StGXR8_Z5jdHi6B-myT',
    });
    for (const bad of [
      'http://host/api/admin/jobs/',
      'http://host/abc',
      'http://host/jobs/events',
      'http://host/jobs/a%20b',
    ]) {
      expect(refusal(() => parseJobUrl(bad))).toMatch(/^It must be the URL of one job/);
    }
  });

  it('reads headers, repeatable, and refuses what is not one', () => {
    const one = parseHeader('Authorization: Bearer abc:def');
    expect(parseHeader('Cookie:sid=1', one)).toEqual([
      ['Authorization', 'Bearer abc:def'],
      ['Cookie', 'sid=1'],
    ]);
    expect(parseHeader('X-Empty:')).toEqual([['X-Empty', '']]);
    expect(refusal(() => parseHeader('Authorization'))).toMatch(/^It must be "Name: value"/);
    expect(refusal(() => parseHeader('Bad Name: x'))).toMatch(/^It must be "Name: value"/);
    expect(refusal(() => parseHeader('X: a\r\nInjected: b'))).toMatch(/line breaks or control characters/);
    // HTTP header values are bytes: fetch refuses any character past U+00FF on every request.
    expect(parseHeader('X-Latin: café')).toEqual([['X-Latin', 'café']]);
    expect(refusal(() => parseHeader('Authorization: Bearer tok€n'))).toMatch(
      /^A header value holds Latin-1 characters only/,
    );
    expect(refusal(() => parseHeader('X-Name: 漢字'))).toMatch(/^A header value holds Latin-1 characters only/);
  });

  it('checks filters with the routes’ rules, repeatable', () => {
    expect(parseCategory('sync-pull', parseCategory('sync-push'))).toEqual(['sync-push', 'sync-pull']);
    expect(refusal(() => parseCategory('bad name!'))).toBe(
      'A category is 1–100 characters: letters, digits and . _ : -',
    );
    expect(refusal(() => parseCategory('x'.repeat(101)))).toMatch(/^A category is/);
    expect(parseJobId('b', parseJobId('a'))).toEqual(['a', 'b']);
    expect(refusal(() => parseJobId('a/b'))).toMatch(/^A job id is/);
    const hundred = Array.from({ length: 100 }, (_, i) => `id${i}`);
    expect(refusal(() => parseJobId('one-more', hundred))).toBe('At most 100 job ids');
  });

  it('reads targets as field=value, values of one field together', () => {
    const target = parseTarget('env=prod', parseTarget('peer=peer-b', parseTarget('peer=peer-a')));
    expect({ ...target }).toEqual({ peer: ['peer-a', 'peer-b'], env: ['prod'] });
    expect({ ...parseTarget('peer=') }).toEqual({ peer: [''] });
    expect({ ...parseTarget('url=a=b') }).toEqual({ url: ['a=b'] });
    expect(Object.keys(parseTarget('__proto__=x'))).toEqual(['__proto__']);
    for (const bad of ['peer', '=x', 'bad field=x'])
      expect(refusal(() => parseTarget(bad))).toMatch(/^It must be field=value/);
    expect(refusal(() => parseTarget(`peer=${'x'.repeat(257)}`))).toMatch(/at most 256 characters/);
  });

  it('reads seconds as milliseconds and exit codes as 0–255', () => {
    expect(parseSeconds('30')).toBe(30_000);
    expect(parseSeconds('0.25')).toBe(250);
    expect(parseSeconds('0.0001')).toBe(1);
    for (const bad of ['', ' ', '0', '-1', 'soon', 'Infinity', '1e9']) {
      expect(refusal(() => parseSeconds(bad))).toMatch(/^It must be a number of seconds above 0/);
    }
    expect(parseExitCode('0')).toBe(0);
    expect(parseExitCode('255')).toBe(255);
    for (const bad of ['256', '-1', '1.5', 'x', '']) expect(refusal(() => parseExitCode(bad))).toMatch(/0 to 255/);
  });
});
