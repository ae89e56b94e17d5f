import { describe, expect, it } from 'vitest';
import { failureOf, statusDetail, statusOf } from '../../src/cli/connect.js';
import { JobFeedError } from '../../src/client/feed/index.js';

describe('what ends a command', () => {
  it('stops on 401 and 403 whenever they come, saying "not logged in" and "not allowed"', () => {
    for (const reached of [false, true]) {
      expect(failureOf(new JobFeedError('unauthorized', 'Log in first', 401), reached, String)).toEqual({
        code: 67,
        message: "not logged in: Log in first. Pass credentials, e.g. --header 'Authorization: Bearer <token>'",
      });
      expect(failureOf(new JobFeedError('forbidden', 'Admins only', 403), reached, String)).toEqual({
        code: 77,
        message: 'not allowed: Admins only',
      });
    }
  });

  it('takes a 404 or a 400 for a wrong URL or filter only before the server ever answered well', () => {
    const missing = new JobFeedError('http', 'The job stream answered 404', 404);
    expect(failureOf(missing, false, (why) => `no such job (${why})`)).toEqual({
      code: 66,
      message: 'no such job (404)',
    });
    expect(failureOf(missing, true, String)).toBe(null);
    const refused = new JobFeedError('http', 'The job stream answered 400', 400);
    expect(failureOf(refused, false, String)?.code).toBe(64);
    expect(failureOf(refused, true, String)).toBe(null);
  });

  it('waits out everything else, and stops on a fault of its own', () => {
    expect(failureOf(new JobFeedError('http', 'The job stream answered 502', 502), false, String)).toBe(null);
    expect(failureOf(new JobFeedError('network', 'connect ECONNREFUSED'), false, String)).toBe(null);
    expect(failureOf(new JobFeedError('protocol', 'malformed job'), false, String)).toBe(null);
    expect(failureOf(new JobFeedError('callback', 'A subscriber threw: x'), true, String)).toEqual({
      code: 70,
      message: 'internal error: A subscriber threw: x',
    });
  });

  it('says how changes arrive', () => {
    const error = new JobFeedError('network', 'The job stream failed: connect ECONNREFUSED 127.0.0.1:3000');
    expect(statusDetail('live', null, 'http://h/jobs', 3000)).toBe('http://h/jobs');
    expect(statusDetail('polling', error, 'http://h/jobs', 500)).toBe(
      'the stream is down; polling http://h/jobs every 0.5s',
    );
    expect(statusDetail('offline', error, 'http://h/jobs', 3000)).toBe(
      'cannot reach http://h/jobs: The job stream failed: connect ECONNREFUSED 127.0.0.1:3000; still trying',
    );
  });

  it('derives the connection from the feed', () => {
    expect(statusOf('connecting', 'live')).toBe('connecting');
    expect(statusOf('streaming', 'live')).toBe('live');
    expect(statusOf('polling', 'polling')).toBe('polling');
    expect(statusOf('polling', 'offline')).toBe('offline');
    expect(statusOf('denied', 'offline')).toBe('offline');
  });
});
