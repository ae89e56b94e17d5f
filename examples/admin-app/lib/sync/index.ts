import { randomUUID } from 'node:crypto';
import type { Peer } from '../config.js';
import type { Db, Settings } from '../db.js';
import { peerApi } from './peer-api.js';
import { peerClient } from './peer-client.js';
import type { SyncRecord } from './protocol.js';
import { transfers } from './push-pull.js';
import { syncStore } from './store.js';

export type { SyncRecord } from './protocol.js';
export type { PullInput, PushInput, SyncInput, SyncResult } from './push-pull.js';
export const SYNC_CATEGORIES: readonly string[] = ['sync-push', 'sync-pull'];

/**
 * The dataset, the peer API another instance calls, and the push / pull work the jobs run. The parts:
 * `keys.ts` (the pair keys, digests, signatures and MACs), `protocol.ts` (every message between
 * peers, as a schema), `peer-client.ts` (calling a peer), `push-pull.ts` (the jobs' work),
 * `peer-api.ts` (the routes a peer calls) and `store.ts` (the SQL).
 */
export function createSync({
  db,
  name,
  peers,
  secret,
  paceMs,
  peerTimeoutMs,
  signByDefault,
  settings,
}: {
  db: Db;
  /** This instance's peer name, e.g. `peer-a`. */
  name: string;
  peers: readonly Peer[];
  /** The shared sync secret the per-peer keys derive from. */
  secret: string;
  /** A pause per step, so a person can watch the phases of a tiny transfer. */
  paceMs: number;
  /** How long one call to a peer may take before it counts as unreachable. */
  peerTimeoutMs: number;
  /** Whether outgoing bundles are signed until the setting is changed. */
  signByDefault: boolean;
  settings: Settings;
}) {
  const store = syncStore(db);
  const peersByName = new Map(peers.map((peer) => [peer.name, peer]));
  const signing = () => {
    const value = settings.get('sync_sign_bundles');
    return value === null ? signByDefault : value === '1';
  };
  const peerNamed = (peerName: string | undefined): Peer => {
    const peer = peerName === undefined ? undefined : peersByName.get(peerName);
    if (!peer) throw new Error(`No peer named ${JSON.stringify(peerName ?? '')} is configured (PEERS)`);
    return peer;
  };
  const work = transfers({
    store,
    client: peerClient({ name, secret, timeoutMs: peerTimeoutMs }),
    name,
    secret,
    paceMs,
    signing,
    peerNamed,
  });

  return {
    peers,
    peer: (peerName: string): Peer | undefined => peersByName.get(peerName),
    signing,
    setSigning: (on: boolean) => settings.set('sync_sign_bundles', on ? '1' : '0'),
    records: (): SyncRecord[] => store.allRecords(),
    count: (): number => store.countRecords(),
    addRecord(title: string, body: string): SyncRecord {
      const record = { id: randomUUID(), title, body, origin: name, created_at: new Date().toISOString() };
      store.insert.run(record);
      return record;
    },
    seed(count: number): void {
      if (store.countRecords() > 0) return;
      const now = Date.now();
      store.applyRecords(
        Array.from({ length: count }, (_, i) => ({
          id: `${name}-seed-${i + 1}`,
          title: `${name} record ${i + 1}`,
          body: `Seed record ${i + 1}, created on ${name}.`,
          origin: name,
          created_at: new Date(now - (count - i) * 60_000).toISOString(),
        })),
      );
    },
    ...work,
    peerApi: () => peerApi({ store, name, secret, peers: peersByName, signing }),
  };
}
export type Sync = ReturnType<typeof createSync>;
