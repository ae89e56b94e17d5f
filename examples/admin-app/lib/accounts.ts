import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db } from './db.js';

// promisify picks scrypt's overload with options; this is the one called here.
const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>;
const KEY_LENGTH = 64;
// A fixed hash to compare against when the user does not exist, so a wrong username costs as much
// time as a wrong password and response times do not reveal which accounts exist.
let dummyHash: string | undefined;

export type Role = 'admin' | 'viewer';
export interface User {
  username: string;
  role: Role;
}
/** A password per demo account; null: keep it, or generate one for a new account. */
export type Passwords = Record<'admin' | 'viewer', string | null>;

/** `scrypt$<salt>$<hash>` (base64url), with Node's default cost (N=16384, r=8, p=1). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, KEY_LENGTH);
  return `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** A password a person can type: 4 groups of 4 from an unambiguous alphabet (about 80 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i > 0 && i % 4 === 0) out += '-';
    // 16 random bytes, 16 characters: both indexes are always in range.
    out += alphabet[bytes[i]! % alphabet.length];
  }
  return out;
}

/**
 * Creates the demo accounts. A password given in the environment is (re)applied on every start;
 * otherwise an account that does not exist yet gets a generated password, returned so the caller can
 * print it once: only its hash is stored.
 */
export async function ensureAccounts(db: Db, passwords: Passwords): Promise<Partial<Record<Role, string>>> {
  const find = db.prepare('SELECT username FROM users WHERE username = ?');
  const create = db.prepare(
    'INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?) ON CONFLICT (username) DO NOTHING',
  );
  const upsert = db.prepare(
    `INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)
     ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role`,
  );
  const generated: Partial<Record<Role, string>> = {};
  for (const [username, role] of [
    ['admin', 'admin'],
    ['viewer', 'viewer'],
  ] as const) {
    const given = passwords[username];
    if (given) {
      upsert.run(username, await hashPassword(given), role);
    } else if (!find.get(username)) {
      // Only the one that creates the account reports its password (two replicas may start at once).
      const password = generatePassword();
      if (create.run(username, await hashPassword(password), role).changes === 1) generated[username] = password;
    }
  }
  return generated;
}

/** The user for these credentials, or null. Runs scrypt even for unknown names (see `dummyHash`). */
export async function authenticate(db: Db, username: unknown, password: unknown): Promise<User | null> {
  if (typeof username !== 'string' || typeof password !== 'string' || password.length > 1024) return null;
  const row = db
    .prepare<[string], { username: string; password_hash: string; role: Role }>(
      'SELECT username, password_hash, role FROM users WHERE username = ?',
    )
    .get(username);
  if (!row) dummyHash ??= await hashPassword('not a real password');
  const stored = row?.password_hash ?? dummyHash ?? '';
  const ok = await verifyPassword(password, stored);
  return row && ok ? { username: row.username, role: row.role } : null;
}

export function hasAccounts(db: Db): boolean {
  return (db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users').get()?.n ?? 0) >= 2;
}
