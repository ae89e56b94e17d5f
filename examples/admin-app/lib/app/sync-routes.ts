import type { Request } from 'express';
import type { Peer } from '../config.js';
import { activity } from '../logs.js';
import { type PullInput, type PushInput, SYNC_CATEGORIES } from '../sync/index.js';
import type { RouteContext } from './context.js';
import { HttpError } from './errors.js';
import { busy, latest, working } from './job-state.js';
import { formField, started } from './render.js';

/** The sync control page: a card per peer with push and pull, the jobs held for approval, the activity log. */
export function syncRoutes({ app, config, db, jobs, sync, render, renderFragment }: RouteContext): void {
  const peerOf = (req: Request<{ peer: string }>): Peer => {
    const peer = sync.peer(req.params.peer);
    if (!peer) throw new HttpError(404, `No peer named ${JSON.stringify(req.params.peer)}`, 'peer');
    return peer;
  };
  const syncLive = () => ({
    waiting: jobs.list({ category: SYNC_CATEGORIES, state: ['pending'], limit: 20 }),
    activity: activity(db, 15),
  });
  const syncSummary = () => ({ records: sync.count(), signing: sync.signing() });

  app.get('/admin/sync-control', (req, res) => {
    const cards = config.peers.map((peer) => {
      const target = { peer: peer.name };
      const push = latest(jobs, 'sync-push', target);
      const pull = latest(jobs, 'sync-pull', target);
      return { peer, push, pull, pushBusy: busy(push), pullBusy: busy(pull) };
    });
    const refresh = working(...cards.flatMap((card) => [card.push, card.pull]));
    render(req, res, 'sync-control', { cards, refresh, ...syncSummary(), ...syncLive() });
  });
  app.get('/admin/sync-control/live', (req, res) => renderFragment(req, res, 'sync-live', syncLive()));
  // The page's first line: how many records this instance holds, which a pull (or its approval) changes.
  app.get('/admin/sync-control/summary', (req, res) => renderFragment(req, res, 'sync-summary', syncSummary()));

  // While a job with the same key is busy (a job held for approval too, across restarts and replicas),
  // `run` answers that job. A push is keyed by the bundle it sends (sync.pushKey); a pull asks for
  // whatever the peer holds, so one busy pull per peer answers for all.
  app.post('/admin/sync-control/:peer/push', async (req, res) => {
    const asked = Date.now();
    const peer = peerOf(req);
    // "allow unsigned" is the pull's, whatever the form posts: what a push sends unsigned, the peer
    // holds for approval (the input keeps the field, always false, as sync's PushInput has it).
    const input: PushInput = { peer: peer.name, allowUnsigned: false };
    const job = await jobs.run('sync-push', input, { key: sync.pushKey() });
    started(req, res, job, '/admin/sync-control', `Push to ${peer.name}`, asked);
  });
  app.post('/admin/sync-control/:peer/pull', async (req, res) => {
    const asked = Date.now();
    const peer = peerOf(req);
    const allowUnsigned = formField(req, 'allow_unsigned') === 'on';
    const input: PullInput = { peer: peer.name, allowUnsigned };
    const job = await jobs.run('sync-pull', input, { key: 'sync' });
    started(req, res, job, '/admin/sync-control', `Pull from ${peer.name}`, asked);
  });
}
