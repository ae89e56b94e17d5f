import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express from 'express';
import type { Passwords } from './accounts.js';

type Env = Readonly<Record<string, string | undefined>>;
export interface Peer {
  name: string;
  /** Its origin, e.g. `http://127.0.0.1:3001`. */
  url: string;
}
/** Express's `trust proxy` value: off, a hop count, or addresses and subnets. */
export type TrustProxy = false | number | string;
export interface LoginThrottleConfig {
  freeFailures: number;
  maxWaitMs: number;
}
export type Config = ReturnType<typeof readConfig>;

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** `peer-b=http://127.0.0.1:3001,peer-c=http://10.0.0.3:3000` → [{ name, url }]. */
export function parsePeers(raw: string): Peer[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name = '', url] = entry.split('=');
      if (!NAME.test(name)) throw new Error(`PEERS: ${JSON.stringify(name)} is not a peer name (a-z, 0-9, -)`);
      let parsed: URL;
      try {
        parsed = new URL(url ?? '');
      } catch {
        throw new Error(`PEERS: the URL of ${name} (${JSON.stringify(url)}) is not a URL`);
      }
      if (!/^https?:$/.test(parsed.protocol)) throw new Error(`PEERS: the URL of ${name} must be http or https`);
      return { name, url: parsed.origin };
    });
}

/**
 * The secret both instances derive their per-peer keys from: `SYNC_SECRET`, or a file shared under
 * `DATA_DIR` (created with mode 0600 on first start), which is how the two local instances agree.
 */
function syncSecret(env: Env, dataRoot: string): string {
  if (env.SYNC_SECRET) {
    if (env.SYNC_SECRET.length < 16) throw new Error('SYNC_SECRET must be at least 16 characters');
    return env.SYNC_SECRET;
  }
  const path = join(dataRoot, 'sync-secret');
  mkdirSync(dataRoot, { recursive: true });
  try {
    writeFileSync(path, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(path, 'utf8').trim();
}

/**
 * `TRUST_PROXY`: which proxies in front of this instance may say who the client is and whether it came
 * over HTTPS (`X-Forwarded-For`, `X-Forwarded-Proto`), as Express's `trust proxy` takes it: a hop count
 * (`1`: the one proxy in front), or addresses and subnets, comma separated (`loopback`,
 * `10.0.0.0/8, 192.168.1.7`). Unset or `0`: none, the connection's own address and protocol count.
 * `true` (trust every hop) is refused: any client could then name its own address and walk past the
 * login throttle.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxy {
  const value = (raw ?? '').trim();
  if (value === '' || value === '0' || value === 'false') return false;
  if (value === 'true') {
    throw new Error(
      'TRUST_PROXY=true would trust every hop, so any client could name its own address: give the number of proxies in front (1) or their addresses',
    );
  }
  const parsed = /^\d+$/.test(value) ? Number(value) : value;
  if (typeof parsed === 'number' && parsed > 10) {
    throw new Error(`TRUST_PROXY: ${value} proxies in front of the app? Give the number of hops (1 to 10)`);
  }
  try {
    // Express compiles the setting at once, and refuses what proxy-addr cannot read.
    express().set('trust proxy', parsed);
  } catch (error) {
    throw new Error(
      `TRUST_PROXY must be a hop count (1) or addresses and subnets, comma separated (loopback, 10.0.0.0/8): ${(error as Error).message} in ${JSON.stringify(value)}`,
    );
  }
  return parsed;
}

/** One instance's configuration, from the environment; every value has a default that needs nothing else. */
export function readConfig(env: Env = process.env) {
  const name = env.INSTANCE_NAME || 'peer-a';
  if (!NAME.test(name)) throw new Error(`INSTANCE_NAME must be a-z, 0-9 and -, got ${JSON.stringify(name)}`);
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = env.HOST || '127.0.0.1';
  const dataRoot = resolve(env.DATA_DIR || 'data');
  const peers = parsePeers(env.PEERS ?? `peer-b=http://127.0.0.1:${integer(env, 'PEER_PORT', 3001, 1, 65535)}`);
  if (peers.some((peer) => peer.name === name)) throw new Error(`PEERS must not list this instance (${name})`);
  let dedalusBaseUrl: string | null = env.DEDALUS_BASE_URL || null;
  if (dedalusBaseUrl) {
    try {
      dedalusBaseUrl = new URL(dedalusBaseUrl).href.replace(/\/+$/, '');
    } catch {
      throw new Error(`DEDALUS_BASE_URL is not a URL: ${JSON.stringify(env.DEDALUS_BASE_URL)}`);
    }
  }
  return {
    name,
    port,
    host,
    dataRoot,
    dataDir: join(dataRoot, name),
    peers,
    dedalusBaseUrl,
    standInKeys: (env.DEDALUS_STANDIN_KEYS || 'dsk-demo-0123456789abcdef').split(',').filter(Boolean),
    syncSecret: syncSecret(env, dataRoot),
    paceMs: integer(env, 'SYNC_PACE_MS', 300, 0, 60_000),
    peerTimeoutMs: integer(env, 'SYNC_PEER_TIMEOUT_MS', 5000, 100, 600_000),
    signByDefault: env.SYNC_SIGN !== '0',
    seedRecords: integer(env, 'SEED_RECORDS', 12, 0, 1000),
    cookieSecure: env.COOKIE_SECURE === '1',
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    login: loginThrottleConfig(env),
    passwords: { admin: env.ADMIN_PASSWORD || null, viewer: env.VIEWER_PASSWORD || null } satisfies Passwords,
    // Set: jobs live in Redis (prefix = this instance's name), so replicas of one peer share them.
    redisUrl: env.REDIS_URL || null,
    leaseMs: integer(env, 'REDIS_LEASE_MS', 15_000, 100, 3_600_000),
  };
}

/** The login throttle (lib/login-throttle.ts): wrong passwords before waits begin, and the longest wait. */
function loginThrottleConfig(env: Env): LoginThrottleConfig {
  if (env.LOGIN_MAX_FAILURES !== undefined && env.LOGIN_MAX_FAILURES !== '') {
    // Its meaning is gone (a lockout after N failures): say so rather than ignore it.
    throw new Error(
      'LOGIN_MAX_FAILURES is no longer read: logins are not locked out any more, wrong passwords wait longer and longer; set LOGIN_FREE_FAILURES and LOGIN_MAX_WAIT_S instead',
    );
  }
  return {
    freeFailures: integer(env, 'LOGIN_FREE_FAILURES', 5, 1, 1000),
    maxWaitMs: integer(env, 'LOGIN_MAX_WAIT_S', 30, 1, 3600) * 1000,
  };
}
