import type { JobFeed } from './feed/index.js';

/**
 * What a tile or a list says about its feed while changes do not arrive live, or `''` while they do (so a live
 * tile keeps the box of the server's markup).
 */
export function connectionNotice(feed: Pick<JobFeed, 'connection' | 'state'>, pollIntervalMs: number): string {
  if (feed.connection === 'polling')
    return `Live updates paused; checking every ${+(pollIntervalMs / 1000).toFixed(1)} s`;
  if (feed.connection === 'live') return '';
  return feed.state === 'denied' ? 'Live updates stopped' : 'Offline; retrying';
}
